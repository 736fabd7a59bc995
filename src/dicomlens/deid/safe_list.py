"""The attributes kept although Table E.1-1 does not list them: safe by default.

PS3.15 E.1.1 leaves attributes outside Table E.1-1 to the implementation. Here the rule is
to keep only what is known to be safe (see :func:`outside_table_action`):

* attributes the table lists get the table's action (with the configured options);
* UIDs are remapped (:mod:`dicomlens.deid.uids`) and person names emptied, wherever they are;
* dates and times (DA, DT, TM) follow the date option: removed, kept, or shifted;
* **numbers** (US, SS, UL, SL, UV, SV, FL, FD, DS, IS, AT) of attributes in the DICOM data
  dictionary are kept: a value made only of digits names no one, and these are the
  measurements, counts and geometry an image needs (rows, spacing, kVp, window, ...);
* **sequences** of the dictionary are kept as containers; every item is cleaned by the same
  rules, so a sequence keeps only the safe attributes inside it;
* **text, codes and bulk data** are kept only when named in :data:`SAFE_KEYWORDS` below,
  each group with the reason it is safe;
* a few free-text attributes that an IOD requires (Type 1 or 2) are replaced by a dummy or
  emptied rather than removed (:data:`REQUIRED_FREE_TEXT`), so the file stays valid;
* everything else is removed: unknown public tags, anything read as UN, private attributes
  (except the configured safe private tags), repeating groups, and free text not named here.

Text that is kept is still searched for the patient's identifiers (names, IDs, dates):
a hit is cleaned out (see :mod:`dicomlens.deid.identifiers`).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydicom.datadict import dictionary_has_tag, tag_for_keyword

NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "DS", "IS", "AT"})

# Each group: why its attributes are safe. Values are keywords of the PS3.6 data dictionary.
_SAFE_GROUPS: Mapping[str, tuple[str, ...]] = {
    # What kind of object this is and how it is encoded: defined terms, no free text.
    "object type and encoding": (
        "SpecificCharacterSet",
        "ImageType",
        "FrameType",
        "Modality",
        "ConversionType",
        "PresentationIntentType",
        "PixelPresentation",
        "VolumetricProperties",
        "VolumeBasedCalculationTechnique",
        "ComplexImageComponent",
        "AcquisitionContrast",
        "ContentQualification",
        "QualityControlImage",
        "RecognizableVisualFeatures",
        "BurnedInAnnotation",
        "LossyImageCompression",
        "LossyImageCompressionMethod",
        "PatientIdentityRemoved",
        "DeidentificationMethod",
        "LongitudinalTemporalInformationModified",
        "MIMETypeOfEncapsulatedDocument",
        "SOPClassesInStudy",
    ),
    # Image Pixel, palette and LUT modules (PS3.3 C.7.6.3, C.7.9, C.11): the picture and how
    # to display it. The pixels themselves are searched for burned-in text separately.
    "pixels and their display": (
        "PhotometricInterpretation",
        "PixelData",
        "FloatPixelData",
        "DoubleFloatPixelData",
        "ExtendedOffsetTable",
        "ExtendedOffsetTableLengths",
        "RedPaletteColorLookupTableData",
        "GreenPaletteColorLookupTableData",
        "BluePaletteColorLookupTableData",
        "AlphaPaletteColorLookupTableData",
        "SegmentedRedPaletteColorLookupTableData",
        "SegmentedGreenPaletteColorLookupTableData",
        "SegmentedBluePaletteColorLookupTableData",
        "SegmentedAlphaPaletteColorLookupTableData",
        "LUTData",
        "PresentationLUTShape",
        "RescaleType",
        "ModalityLUTType",
        "VOILUTFunction",
        "PixelIntensityRelationship",
        "PixelSpacingCalibrationType",
        "ImagerPixelSpacing",
        "MeasurementUnitsCodeSequence",
    ),
    # Patient-relative geometry and anatomy: defined terms.
    "geometry and anatomy": (
        "PatientOrientation",
        "PatientPosition",
        "ViewPosition",
        "Laterality",
        "ImageLaterality",
        "FrameLaterality",
        "BodyPartExamined",
        "AnatomicalOrientationType",
        "RotationDirection",
        "InPlanePhaseEncodingDirection",
        "StackID",
        "DimensionOrganizationType",
    ),
    # The make and model of the equipment (not its identity: serial numbers, station names
    # and device UIDs are Table E.1-1 rows, kept only with Retain Device Identity).
    "equipment make and model": (
        "Manufacturer",
        "ManufacturerModelName",
        "SoftwareVersions",
    ),
    # Acquisition technique (CT, MR, XA/DX/CR, US, NM/PET, RT dose): defined terms and
    # vendor technique names, no free text about the patient.
    "acquisition technique": (
        "ScanOptions",
        "FilterType",
        "ConvolutionKernel",
        "ExposureModulationType",
        "ScanningSequence",
        "SequenceVariant",
        "MRAcquisitionType",
        "SequenceName",
        "PulseSequenceName",
        "ImagedNucleus",
        "ResonantNucleus",
        "ReceiveCoilName",
        "ReceiveCoilType",
        "TransmitCoilName",
        "TransmitCoilType",
        "MRSpectroscopyAcquisitionType",
        "AngioFlag",
        "VariableFlipAngleFlag",
        "BloodSignalNulling",
        "BulkMotionCompensationTechnique",
        "CardiacSynchronizationTechnique",
        "RespiratoryMotionCompensationTechnique",
        "CoverageOfKSpace",
        "Decoupling",
        "EchoPlanarPulseSequence",
        "EchoPulseSequence",
        "FlowCompensationDirection",
        "FrequencyCorrection",
        "GeometryOfKSpaceTraversal",
        "GradientOutputType",
        "KSpaceFiltering",
        "MagnetizationTransfer",
        "MultiPlanarExcitation",
        "OversamplingPhase",
        "ParallelAcquisition",
        "ParallelAcquisitionTechnique",
        "PartialFourier",
        "PhaseContrast",
        "RectilinearPhaseEncodeReordering",
        "SaturationRecovery",
        "SegmentedKSpaceTraversal",
        "SpatialPresaturation",
        "SpectrallySelectedExcitation",
        "SpectrallySelectedSuppression",
        "Spoiling",
        "SteadyStatePulseSequence",
        "T2Preparation",
        "Tagging",
        "TimeOfFlightContrast",
        "WaterReferencedPhaseCorrection",
        "AcquisitionTerminationCondition",
        "CassetteOrientation",
        "CassetteSize",
        "CollimatorShape",
        "BorderDensity",
        "CorrectedImage",
        "WholeBodyTechnique",
        "PositionerType",
        "DetectorType",
        "DetectorConfiguration",
        "ExposureControlMode",
        "Grid",
        "AnodeTargetMaterial",
        "FilterMaterial",
        "FieldOfViewShape",
        "TransducerType",
        "Units",
        "DecayCorrection",
        "CountsSource",
        "RandomsCorrectionMethod",
        "SeriesType",
        "TypeOfDetectorMotion",
        "CollimatorType",
        "DoseUnits",
        "DoseType",
        "DoseSummationType",
        "TissueHeterogeneityCorrection",
        "ContrastBolusAgentAdministered",
        "ContrastBolusAgentDetected",
        "ContrastBolusAgentPhase",
        "SegmentationType",
        "SegmentationFractionalType",
        "SegmentAlgorithmType",
        "ShutterShape",
        "PositionerMotion",
        "RadiationSetting",
        "DetectorConditionsNominalFlag",
        "DetectorActiveShape",
        "PartialView",
        "BreastImplantPresent",
        "OrganExposed",
        "DiffusionDirectionality",
        "DiffusionAnisotropyType",
        "CardiacCyclePosition",
        "RespiratoryCyclePosition",
        "RespiratorySignalSource",
        "CardiacSignalSource",
        "BeatRejectionFlag",
    ),
    # Radiotherapy objects (PS3.3 C.8.8): plan, beam, structure and dose defined terms.
    "radiotherapy": (
        "ContourGeometricType",
        "ROIGenerationAlgorithm",
        "RTROIInterpretedType",
        "PlanIntent",
        "RTPlanGeometry",
        "BeamType",
        "RadiationType",
        "TreatmentDeliveryType",
        "RTBeamLimitingDeviceType",
        "PrimaryDosimeterUnit",
        "ApprovalStatus",
        "DoseReferenceStructureType",
        "DoseReferenceType",
        "RTImagePlane",
        "ReportedValuesOrigin",
        "FluenceMode",
        "BeamDoseMeaning",
    ),
    # Waveforms (PS3.3 C.10.9): the signal and how to read it.
    "waveforms": (
        "WaveformData",
        "WaveformOriginality",
        "WaveformSampleInterpretation",
        "ChannelStatus",
    ),
    # Presentation states (PS3.3 C.10, C.11): how graphics and shutters are drawn.
    "presentation": (
        "GraphicType",
        "GraphicAnnotationUnits",
        "BoundingBoxAnnotationUnits",
        "AnchorPointAnnotationUnits",
        "GraphicFilled",
        "PresentationSizeMode",
        "GraphicLayer",
    ),
    # Coded entries (PS3.3 Table 8.8-1): code values and meanings from coding schemes.
    "codes": (
        "CodeValue",
        "CodingSchemeDesignator",
        "CodingSchemeVersion",
        "CodeMeaning",
        "LongCodeValue",
        "URNCodeValue",
        "MappingResource",
        "ContextIdentifier",
        "ContextGroupExtensionFlag",
    ),
    # Structured-report structure (PS3.3 C.17.3): how content items relate, not what they say
    # (text values are a Table E.1-1 gap handled in :mod:`dicomlens.deid.profile`).
    "report structure": (
        "ValueType",
        "RelationshipType",
        "ContinuityOfContent",
        "TemplateIdentifier",
        "CompletionFlag",
        "VerificationFlag",
        "PreliminaryFlag",
    ),
}


def _tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return int(tag)


SAFE_KEYWORDS = frozenset(k for group in _SAFE_GROUPS.values() for k in group)
SAFE_TAGS = frozenset(_tag(keyword) for keyword in SAFE_KEYWORDS)

# Free text that some IOD requires (Type 1: "D", a dummy; Type 2: "Z", emptied): its value
# goes, the attribute stays so that the de-identified file still conforms.
REQUIRED_FREE_TEXT: Mapping[int, str] = {
    _tag("ContentLabel"): "D",  # Content Identification Macro, Type 1
    _tag("SegmentLabel"): "D",  # Segment Description Macro, Type 1
    _tag("SegmentAlgorithmName"): "D",  # Type 1C
    _tag("ContentDescription"): "Z",  # Type 2
    _tag("DocumentTitle"): "Z",  # Encapsulated Document, Type 2
    _tag("PositionReferenceIndicator"): "Z",  # Frame of Reference, Type 2
    _tag("RTImageLabel"): "D",  # RT Image, Type 1
}


def outside_table_action(tag: int, vr: str) -> str | None:
    """What happens to a public attribute that Table E.1-1 does not list (dates, UIDs and
    person names excepted: the profile handles those first).

    None keeps it; ``"D"`` or ``"Z"`` replace or empty its value; ``"X"`` removes it.
    """
    if vr == "UN" or not dictionary_has_tag(tag):
        return "X"
    if tag in REQUIRED_FREE_TEXT:
        return REQUIRED_FREE_TEXT[tag]
    if tag in SAFE_TAGS or vr in NUMBER_VRS or vr == "SQ":
        return None
    return "X"
