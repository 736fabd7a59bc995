"""Analysis results as DICOM: a Comprehensive 3D SR with a TID 1500 Measurement Report.

:func:`~dicomlens.reports.builder.build_report` turns one instance and its
:class:`~dicomlens.domain.results.AnalysisResult` into the SR data set (finding boxes as
image regions, labels as qualitative evaluations); see docs/reports.md. Built with
highdicom, imported only where a report is made.
"""
