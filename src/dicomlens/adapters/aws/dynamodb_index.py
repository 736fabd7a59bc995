"""The DICOMweb instance index in DynamoDB: the AWS :class:`~dicomlens.ports.InstanceIndex`.

One table (``InstanceIndexTable`` in infra/template.yaml), keys ``pk``/``sk``; every read is a
GetItem, BatchGetItem or Query, never a Scan (docs/dicomweb-index.md lists each pattern):

* study ``pk=STUDY#{study}``, ``sk=STUDY``: the newest instance's study attributes, the
  counts (``instanceCount``; ``seriesUids``, a string set whose size is the series count)
  and the string sets ``modalities`` / ``sopClasses``; ``rev`` grows with every write;
* series ``pk=STUDY#{study}``, ``sk=SERIES#{series}``: attributes and ``instanceCount``;
* instance ``pk=STUDY#{study}``, ``sk=INSTANCE#{series}#{sop}``: the whole record;
* SOP pointer ``pk=SOP#{sop}``, ``sk=SOP``: where the SOP Instance UID is indexed. A
  strongly consistent GetItem, not a GSI, because replace detection must see the put that
  finished a moment ago (a GSI is eventually consistent);
* sparse GSIs over study items only: ``studies-by-date`` (``studyShard`` = one of
  :data:`SHARDS` partitions, ``studySort`` = ``{StudyDate}#{study}``, projection ALL) for date
  ranges and unkeyed searches, ``studies-by-patient`` (``patientId``, ``studySort``) and
  ``studies-by-accession`` (``accession``), both KEYS_ONLY (few hits, read back with a
  consistent BatchGetItem, so their items are written only when a key changes).

A put is one TransactWriteItems: the pointer (conditional on the revision it read: two puts
of one SOP UID serialise), the instance item, the earlier item's delete when it lived
elsewhere, and atomic ADDs on the series and study counts and sets, so concurrent puts into
one study lose nothing. A replace then reconciles the earlier record's study: its items are
read again (consistent Query) and its series and study rewritten from them under a
condition on the study's ``rev`` (retried when another put got in between), which removes
what the ADD-only sets cannot (a SOP class or modality no instance has any more, an emptied
series or study).

DICOM JSON data sets are stored as JSON text (``S``), not as typed maps: DynamoDB never
looks inside them, the text is half the size, and numbers (DS floats, large IS values)
round-trip exactly without the Decimal conversion. The item's own attributes go through the
shared codec (:func:`~dicomlens.adapters.aws.dynamodb.serialize`).
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from dicomlens.adapters.aws.clients import AWS_ERRORS, error_code, translate
from dicomlens.adapters.aws.dynamodb import deserialize, serialize
from dicomlens.adapters.instance_rows import (
    ACCESSION_NUMBER,
    MODALITY,
    PATIENT_ID,
    STUDY_DATE,
    NarrowingKeys,
    date_in_range,
    first_value,
    instance_from_json,
    instance_order,
    instance_row,
    instance_to_json,
    narrowing_keys,
    series_row,
    study_row,
)
from dicomlens.dicomweb.model import IndexedInstance, PutOutcome, QidoQuery, QueryLevel
from dicomlens.domain.errors import TransientError

SHARDS = 8
"""Partitions of the ``studies-by-date`` index (each study's by the CRC32 of its UID): an
unkeyed search reads them all, and index writes spread over them."""
BY_DATE_INDEX = "studies-by-date"
BY_PATIENT_INDEX = "studies-by-patient"
BY_ACCESSION_INDEX = "studies-by-accession"
_STUDY_SK = "STUDY"
_SOP_SK = "SOP"
_ATTEMPTS = 12
_CANCELLED = "TransactionCanceledException"
_RETRYABLE_REASONS = frozenset({"ConditionalCheckFailed", "TransactionConflict"})
_THROTTLED_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})
_TRANSACTION_LIMIT = 100


def study_pk(study_uid: str) -> str:
    """The partition key of a study's items."""
    return f"STUDY#{study_uid}"


def study_shard(study_uid: str) -> str:
    """The ``studies-by-date`` partition of a study."""
    return f"S#{zlib.crc32(study_uid.encode()) % SHARDS}"


def study_sort(study_uid: str, study: dict[str, Any]) -> str:
    """The GSI sort key of a study: its StudyDate (empty when undated), ``#``, its UID."""
    return f"{first_value(study, STUDY_DATE) or ''}#{study_uid}"


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _instance_sk(series_uid: str, sop_uid: str) -> str:
    return f"INSTANCE#{series_uid}#{sop_uid}"


class _LostRaceError(Exception):
    """A transaction lost a race: read again and retry."""


class DynamoInstanceIndex:
    """The instance index in one DynamoDB table (see the module docstring for the keys)."""

    def __init__(self, client: Any, *, table_name: str) -> None:
        self._db = client
        self.table_name = table_name

    # ------------------------------------------------------------------ put

    def put(self, instance: IndexedInstance) -> PutOutcome:
        """Index ``instance`` (CREATED, or REPLACED for a known SOP Instance UID); counts and
        sets of its series and study change atomically with it; a replace then reconciles
        the earlier record's study."""
        for attempt in range(_ATTEMPTS):
            pointer = self._get(f"SOP#{instance.sop_uid}", _SOP_SK)
            try:
                self._transact(self._put_items(instance, pointer), action="index instance")
            except _LostRaceError:
                _pause(attempt)
                continue
            if pointer is None:
                return PutOutcome.CREATED
            self._reconcile(str(pointer["studyUid"]))
            return PutOutcome.REPLACED
        raise TransientError("index instance: too many concurrent writes to one study")

    def _put_items(
        self, instance: IndexedInstance, pointer: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        table = self.table_name
        study_uid, series_uid = instance.study_uid, instance.series_uid
        old = None if pointer is None else (str(pointer["studyUid"]), str(pointer["seriesUid"]))
        moved = old is not None and old != (study_uid, series_uid)
        rev = 0 if pointer is None else int(pointer["rev"])
        pointer_item = {
            "pk": f"SOP#{instance.sop_uid}",
            "sk": _SOP_SK,
            "studyUid": study_uid,
            "seriesUid": series_uid,
            "rev": rev + 1,
        }
        pointer_put: dict[str, Any] = {"TableName": table, "Item": serialize(pointer_item)}
        if pointer is None:
            pointer_put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            pointer_put["ConditionExpression"] = "rev = :rev"
            pointer_put["ExpressionAttributeValues"] = {":rev": {"N": str(rev)}}
        instance_item = {
            "pk": study_pk(study_uid),
            "sk": _instance_sk(series_uid, instance.sop_uid),
            "record": instance_to_json(instance),
        }
        items: list[dict[str, Any]] = [
            {"Put": pointer_put},
            {"Put": {"TableName": table, "Item": serialize(instance_item)}},
        ]
        added = 1 if pointer is None or moved else 0
        if old is not None and moved:
            items.append(
                {
                    "Delete": {
                        "TableName": table,
                        "Key": _key(study_pk(old[0]), _instance_sk(old[1], instance.sop_uid)),
                    }
                }
            )
            items.append(self._decrement(study_pk(old[0]), f"SERIES#{old[1]}", study=False))
            if old[0] != study_uid:
                items.append(self._decrement(study_pk(old[0]), _STUDY_SK, study=True))
        study_delta = added if old is None or old[0] != study_uid else 0
        items.append(self._series_update(instance, added))
        items.append(self._study_update(instance, study_delta))
        return items

    def _decrement(self, pk: str, sk: str, *, study: bool) -> dict[str, Any]:
        update = "ADD instanceCount :minus" + (", rev :one" if study else "")
        values = {":minus": {"N": "-1"}}
        if study:
            values[":one"] = {"N": "1"}
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": _key(pk, sk),
                "UpdateExpression": update,
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": values,
            }
        }

    def _series_update(self, instance: IndexedInstance, added: int) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": _key(study_pk(instance.study_uid), f"SERIES#{instance.series_uid}"),
                "UpdateExpression": "SET attrs = :attrs, seriesUid = :uid ADD instanceCount :added",
                "ExpressionAttributeValues": serialize(
                    {
                        ":attrs": _dumps(instance.series),
                        ":uid": instance.series_uid,
                        ":added": added,
                    }
                ),
            }
        }

    def _study_update(self, instance: IndexedInstance, added: int) -> dict[str, Any]:
        study = instance.study
        sets = {
            "attrs": _dumps(study),
            "studyUid": instance.study_uid,
            "studyShard": study_shard(instance.study_uid),
            "studySort": study_sort(instance.study_uid, study),
        }
        removes = []
        for name, tag in (("patientId", PATIENT_ID), ("accession", ACCESSION_NUMBER)):
            key = first_value(study, tag)
            if key is None:
                removes.append(name)
            else:
                sets[name] = key
        values: dict[str, Any] = {f":{name}": value for name, value in sets.items()}
        values.update({":added": added, ":one": 1})
        adds = ["instanceCount :added", "rev :one"]
        wire = serialize(values)
        wire[":series"] = {"SS": [instance.series_uid]}
        wire[":classes"] = {"SS": [instance.sop_class_uid]}
        adds += ["seriesUids :series", "sopClasses :classes"]
        modality = first_value(instance.series, MODALITY)
        if modality is not None:
            wire[":modalities"] = {"SS": [modality]}
            adds.append("modalities :modalities")
        update = "SET " + ", ".join(f"{name} = :{name}" for name in sets)
        if removes:
            update += " REMOVE " + ", ".join(removes)
        update += " ADD " + ", ".join(adds)
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": _key(study_pk(instance.study_uid), _STUDY_SK),
                "UpdateExpression": update,
                "ExpressionAttributeValues": wire,
            }
        }

    def _reconcile(self, study_uid: str) -> None:
        """Rewrite a study's series and study items from its instance items, under a
        condition on the study's ``rev``; retried when another write got in between."""
        for attempt in range(_ATTEMPTS):
            items = list(self._query_partition(study_pk(study_uid), ""))
            study = next((i for i in items if i["sk"] == _STUDY_SK), None)
            series_items = {i["sk"] for i in items if str(i["sk"]).startswith("SERIES#")}
            instances = [
                instance_from_json(i["record"])
                for i in items
                if str(i["sk"]).startswith("INSTANCE#")
            ]
            try:
                self._rewrite(study_uid, study, series_items, instances)
            except _LostRaceError:
                _pause(attempt)
                continue
            return
        raise TransientError("reconcile study: too many concurrent writes to one study")

    def _rewrite(
        self,
        study_uid: str,
        study: dict[str, Any] | None,
        series_items: set[str],
        instances: list[IndexedInstance],
    ) -> None:
        table, pk = self.table_name, study_pk(study_uid)
        by_series: dict[str, list[IndexedInstance]] = {}
        for found in sorted(instances, key=lambda i: (i.stored_at, i.sop_uid)):
            by_series.setdefault(found.series_uid, []).append(found)
        writes: list[dict[str, Any]] = []
        for series_uid, members in sorted(by_series.items()):
            item = {
                "pk": pk,
                "sk": f"SERIES#{series_uid}",
                "seriesUid": series_uid,
                "attrs": _dumps(members[-1].series),
                "instanceCount": len(members),
            }
            writes.append({"Put": {"TableName": table, "Item": serialize(item)}})
        for sk in sorted(series_items - {f"SERIES#{uid}" for uid in by_series}):
            writes.append({"Delete": {"TableName": table, "Key": _key(pk, sk)}})
        if study is None:
            guard: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
            rev = 0
        else:
            rev = int(study["rev"])
            guard = {
                "ConditionExpression": "rev = :rev",
                "ExpressionAttributeValues": {":rev": {"N": str(rev)}},
            }
        if instances:
            final: dict[str, Any] = {
                "Put": {
                    "TableName": table,
                    "Item": _study_item(study_uid, instances, rev + 1),
                    **guard,
                }
            }
        elif study is not None:
            final = {"Delete": {"TableName": table, "Key": _key(pk, _STUDY_SK), **guard}}
        else:
            return  # nothing left, nothing stored
        step = _TRANSACTION_LIMIT - 1
        for start in range(0, len(writes), step):
            chunk = writes[start : start + step]
            if start + step < len(writes):  # an earlier chunk only checks the revision
                check = {"TableName": table, "Key": _key(pk, _STUDY_SK), **guard}
                self._transact([*chunk, {"ConditionCheck": check}], action="reconcile study")
            else:
                self._transact([*chunk, final], action="reconcile study")
        if not writes:
            self._transact([final], action="reconcile study")

    def _transact(self, items: list[dict[str, Any]], *, action: str) -> None:
        """Run one transaction; :class:`_LostRaceError` when a condition or a conflict
        cancelled it."""
        try:
            self._db.transact_write_items(TransactItems=items)
        except AWS_ERRORS as exc:
            if isinstance(exc, ClientError) and error_code(exc) == _CANCELLED:
                reasons = {
                    str(reason.get("Code", ""))
                    for reason in exc.response.get("CancellationReasons", [])
                }
                if reasons & _THROTTLED_REASONS:
                    raise TransientError(f"{action}: the table is busy") from exc
                if not reasons or reasons & _RETRYABLE_REASONS:
                    raise _LostRaceError from exc
            if isinstance(exc, ClientError) and error_code(exc) == "TransactionConflictException":
                raise _LostRaceError from exc
            raise translate(exc, action=action) from exc

    # ------------------------------------------------------------------ reads

    def find_sop(self, sop_uid: str) -> IndexedInstance | None:
        """The instance with ``sop_uid`` in any study (strongly consistent), or None."""
        for _ in range(3):  # a replace may move the item between the two reads
            pointer = self._get(f"SOP#{sop_uid}", _SOP_SK)
            if pointer is None:
                return None
            item = self._get(
                study_pk(str(pointer["studyUid"])),
                _instance_sk(str(pointer["seriesUid"]), sop_uid),
            )
            if item is not None:
                return instance_from_json(item["record"])
        return None

    def instances(
        self, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None
    ) -> list[IndexedInstance]:
        """The instances of a study, of one of its series, or the one instance, in the
        port's order (a consistent Query of the study's partition, or a GetItem)."""
        if sop_uid is not None:
            found = self.find_sop(sop_uid)
            if found is None or found.study_uid != study_uid:
                return []
            return [found] if series_uid in (None, found.series_uid) else []
        prefix = "INSTANCE#" if series_uid is None else f"INSTANCE#{series_uid}#"
        records = self._query_partition(study_pk(study_uid), prefix)
        return sorted((instance_from_json(i["record"]) for i in records), key=instance_order)

    def candidates(self, query: QidoQuery) -> Iterator[dict[str, Any]]:
        """Rows of ``query.level`` in its path scope, found through the study keys the query
        has (UIDs, AccessionNumber, PatientID, StudyDate; else every study), then the
        studies' partitions for series and instances; or the SOP pointers for a SOP UID
        list. Never a Scan."""
        keys = narrowing_keys(query)
        if query.level is QueryLevel.STUDY:
            for study in self._studies(keys):
                yield _study_row(study)
            return
        if query.level is QueryLevel.INSTANCE and keys.study_uids is None and keys.sop_uids:
            yield from self._instances_by_sop(keys)
            return
        for study in self._studies(keys):
            yield from self._rows_in_study(study, keys, query.level)

    def _rows_in_study(
        self, study: dict[str, Any], keys: NarrowingKeys, level: QueryLevel
    ) -> Iterator[dict[str, Any]]:
        pk = str(study["pk"])
        study_attrs = json.loads(study["attrs"])
        series = {
            str(item["seriesUid"]): item
            for item in self._query_partition(pk, "SERIES#")
            if keys.series_uids is None or str(item["seriesUid"]) in keys.series_uids
        }
        if level is QueryLevel.SERIES:
            for item in series.values():
                attrs = json.loads(item["attrs"])
                if keys.modality is None or first_value(attrs, MODALITY) == keys.modality:
                    yield series_row(study_attrs, attrs, instance_count=int(item["instanceCount"]))
            return
        prefixes = (
            ["INSTANCE#"]
            if keys.series_uids is None
            else [f"INSTANCE#{uid}#" for uid in sorted(series)]
        )
        for prefix in prefixes:
            for item in self._query_partition(pk, prefix):
                found = instance_from_json(item["record"])
                if keys.sop_uids is not None and found.sop_uid not in keys.sop_uids:
                    continue
                holder = series.get(found.series_uid)
                if holder is not None:
                    yield instance_row(study_attrs, json.loads(holder["attrs"]), found.instance)

    def _instances_by_sop(self, keys: NarrowingKeys) -> Iterator[dict[str, Any]]:
        for sop_uid in sorted(keys.sop_uids or ()):
            found = self.find_sop(sop_uid)
            if found is None:
                continue
            if keys.series_uids is not None and found.series_uid not in keys.series_uids:
                continue
            pk = study_pk(found.study_uid)
            study = self._get(pk, _STUDY_SK)
            series = self._get(pk, f"SERIES#{found.series_uid}")
            if study is not None and series is not None:
                yield instance_row(
                    json.loads(study["attrs"]), json.loads(series["attrs"]), found.instance
                )

    def _studies(self, keys: NarrowingKeys) -> Iterator[dict[str, Any]]:
        """The study items that may match ``keys`` (a superset), each once."""
        if keys.study_uids is not None:
            found: Iterable[dict[str, Any]] = self._batch_get(
                [study_pk(uid) for uid in sorted(keys.study_uids)]
            )
        elif keys.accession_number is not None:
            found = self._batch_get(self._index_pks(BY_ACCESSION_INDEX, "accession", keys))
        elif keys.patient_id is not None:
            found = self._batch_get(self._index_pks(BY_PATIENT_INDEX, "patientId", keys))
        else:
            found = self._by_date(keys)
        for study in found:
            if "attrs" not in study:
                continue  # not a whole study item (never written by a put)
            if keys.study_date is not None and not date_in_range(
                str(study["studySort"]).partition("#")[0], keys.study_date
            ):
                continue
            yield study

    def _index_pks(self, index: str, attribute: str, keys: NarrowingKeys) -> list[str]:
        wanted = keys.accession_number if attribute == "accession" else keys.patient_id
        items = self._query(
            IndexName=index,
            KeyConditionExpression="#k = :k",
            ExpressionAttributeNames={"#k": attribute},
            ExpressionAttributeValues={":k": {"S": str(wanted)}},
        )
        return sorted({str(item["pk"]) for item in items})

    def _by_date(self, keys: NarrowingKeys) -> Iterator[dict[str, Any]]:
        """Study items from every shard of ``studies-by-date``: within the date range (and
        the undated ones, which the matcher decides about), or all of them."""
        for shard in range(SHARDS):
            names = {"#shard": "studyShard", "#sort": "studySort"}
            values = {":shard": {"S": f"S#{shard}"}}
            conditions = ["#shard = :shard"]
            if keys.study_date is not None:
                start = keys.study_date.start or "0"
                end = (keys.study_date.end or "99999999") + "#~"  # UIDs are digits and dots
                ranged = {**values, ":lo": {"S": start}, ":hi": {"S": end}}
                yield from self._query(
                    IndexName=BY_DATE_INDEX,
                    KeyConditionExpression="#shard = :shard AND #sort BETWEEN :lo AND :hi",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=ranged,
                )
                conditions.append("begins_with(#sort, :undated)")
                values[":undated"] = {"S": "#"}
            yield from self._query(
                IndexName=BY_DATE_INDEX,
                KeyConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames=names if len(conditions) > 1 else {"#shard": "studyShard"},
                ExpressionAttributeValues=values,
            )

    # ------------------------------------------------------------------ I/O

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        try:
            response = self._db.get_item(
                TableName=self.table_name, Key=_key(pk, sk), ConsistentRead=True
            )
        except AWS_ERRORS as exc:
            raise translate(exc, action="read index") from exc
        item = response.get("Item")
        return None if item is None else deserialize(item)

    def _batch_get(self, pks: list[str]) -> Iterator[dict[str, Any]]:
        """The study items of ``pks`` (consistent BatchGetItem, 100 keys a call, unprocessed
        keys asked again)."""
        for start in range(0, len(pks), 100):
            request = {
                self.table_name: {
                    "Keys": [_key(pk, _STUDY_SK) for pk in pks[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            for attempt in range(_ATTEMPTS):
                try:
                    response = self._db.batch_get_item(RequestItems=request)
                except AWS_ERRORS as exc:
                    raise translate(exc, action="read index") from exc
                for item in response.get("Responses", {}).get(self.table_name, []):
                    yield deserialize(item)
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                _pause(attempt)
            else:
                raise TransientError("read index: the table is busy")

    def _query_partition(self, pk: str, sk_prefix: str) -> Iterator[dict[str, Any]]:
        """The items of partition ``pk`` whose sort key starts with ``sk_prefix``
        (consistent)."""
        if not sk_prefix:
            return self._query(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ConsistentRead=True,
            )
        return self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
            ConsistentRead=True,
        )

    def _query(self, **arguments: Any) -> Iterator[dict[str, Any]]:
        pages = self._db.get_paginator("query").paginate(TableName=self.table_name, **arguments)
        try:
            for page in pages:
                for item in page.get("Items", []):
                    yield deserialize(item)
        except AWS_ERRORS as exc:
            raise translate(exc, action="query index") from exc


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _pause(attempt: int) -> None:
    """A short, growing wait before retrying a lost race (jitter from the clock)."""
    time.sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + (time.monotonic_ns() % 1000) / 1000))


def _study_row(study: dict[str, Any]) -> dict[str, Any]:
    return study_row(
        json.loads(study["attrs"]),
        series_count=len(study.get("seriesUids") or ()),
        instance_count=int(study.get("instanceCount", 0)),
        modalities=study.get("modalities") or (),
        sop_classes=study.get("sopClasses") or (),
    )


def _study_item(study_uid: str, instances: list[IndexedInstance], rev: int) -> dict[str, Any]:
    """The study item (wire form) recomputed from all its instances: the newest one's
    attributes (latest ``stored_at``), the counts and the sets."""
    newest = max(instances, key=lambda i: (i.stored_at, i.sop_uid))
    study = newest.study
    item: dict[str, Any] = {
        "pk": study_pk(study_uid),
        "sk": _STUDY_SK,
        "studyUid": study_uid,
        "attrs": _dumps(study),
        "studyShard": study_shard(study_uid),
        "studySort": study_sort(study_uid, study),
        "instanceCount": len(instances),
        "rev": rev,
    }
    for name, tag in (("patientId", PATIENT_ID), ("accession", ACCESSION_NUMBER)):
        key = first_value(study, tag)
        if key is not None:
            item[name] = key
    wire = serialize(item)
    # string sets: the codec writes lists, not sets; and DynamoDB refuses an empty set
    for name, values in (
        ("seriesUids", {i.series_uid for i in instances}),
        ("sopClasses", {i.sop_class_uid for i in instances}),
        ("modalities", {m for i in instances if (m := first_value(i.series, MODALITY))}),
    ):
        if values:
            wire[name] = {"SS": sorted(values)}
    return wire
