#!/usr/bin/env python3
"""Generate Swift codecs for Kafka protocol messages from Apache Kafka's JSON schemas.

Reads the schemas in ../shared/kafka-protocol (relative to the repository root; override with
--schemas or APUS_KAFKA_SCHEMAS) and writes:

  Sources/ApusProtocol/Generated/<Api>.swift        one file per API: <Api>Request and <Api>Response
  Sources/ApusProtocol/Generated/<Data>.swift       one file per data/record schema
  Sources/ApusProtocol/Generated/Headers.swift      RequestHeader and ResponseHeader
  Sources/ApusProtocol/Generated/ApiKey.swift       every API key with its schema version ranges
  Sources/ApusProtocol/Generated/KafkaErrorCode.swift   from errors.tsv
  Tests/ApusProtocolTests/Generated/Samples.swift   sample values per message and version, for tests
  Docs/protocol.md                                  only the table of generated messages

With --check nothing is written: the exit status is 1 and the stale files are listed when the
committed output differs from what would be generated now.

The schema format is described in shared/kafka-protocol/SCHEMA-FORMAT.md and in
Docs/protocol.md. Python 3.11, standard library only.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

# The Apache Kafka commit the schemas in shared/kafka-protocol were taken from.
KAFKA_COMMIT = "1eb7644349cb07139d6a3c1ad1986979647cac99"

# ---------------------------------------------------------------------------------------------
# What to generate: the single list. ("api", Name) generates <Name>Request and <Name>Response
# into <Name>.swift; ("data", path) generates one data schema (path relative to the schema dir).
# ---------------------------------------------------------------------------------------------
MESSAGES: list[tuple[str, str]] = [
    ("api", "Produce"),
    ("api", "Fetch"),
    ("api", "ListOffsets"),
    ("api", "Metadata"),
    ("api", "OffsetCommit"),
    ("api", "OffsetFetch"),
    ("api", "FindCoordinator"),
    ("api", "JoinGroup"),
    ("api", "Heartbeat"),
    ("api", "LeaveGroup"),
    ("api", "SyncGroup"),
    ("api", "DescribeGroups"),
    ("api", "ListGroups"),
    ("api", "SaslHandshake"),
    ("api", "ApiVersions"),
    ("api", "CreateTopics"),
    ("api", "DeleteTopics"),
    ("api", "DeleteRecords"),
    ("api", "InitProducerId"),
    ("api", "OffsetForLeaderEpoch"),
    ("api", "DescribeAcls"),
    ("api", "CreateAcls"),
    ("api", "DeleteAcls"),
    ("api", "DescribeConfigs"),
    ("api", "AlterConfigs"),
    ("api", "DescribeLogDirs"),
    ("api", "SaslAuthenticate"),
    ("api", "CreatePartitions"),
    ("api", "DeleteGroups"),
    ("api", "IncrementalAlterConfigs"),
    ("api", "OffsetDelete"),
    ("api", "DescribeCluster"),
    ("api", "DescribeUserScramCredentials"),
    ("api", "AlterUserScramCredentials"),
    ("api", "GetTelemetrySubscriptions"),
    ("data", "ConsumerProtocolSubscription"),
    ("data", "ConsumerProtocolAssignment"),
    ("data", "group-coordinator/OffsetCommitKey"),
    ("data", "group-coordinator/OffsetCommitValue"),
    ("data", "group-coordinator/GroupMetadataKey"),
    ("data", "group-coordinator/GroupMetadataValue"),
]

HEADER_SCHEMAS = ["RequestHeader", "ResponseHeader"]

GENERATED_SOURCES = Path("Sources/ApusProtocol/Generated")
GENERATED_TESTS = Path("Tests/ApusProtocolTests/Generated")
PROTOCOL_DOC = Path("Docs/protocol.md")
TABLE_BEGIN = "<!-- BEGIN generated message table (tools/kafka-codegen/generate.py) -->"
TABLE_END = "<!-- END generated message table -->"
MAX_VERSION = 0x7FFF
HIGHEST_SCHEMA_VERSION = 255  # the version sets below never need more (Kafka's highest is ~20)

SWIFT_KEYWORDS = {
    "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import",
    "init", "inout", "internal", "let", "open", "operator", "private", "precedencegroup",
    "protocol", "public", "rethrows", "static", "struct", "subscript", "typealias", "var",
    "break", "case", "catch", "continue", "default", "defer", "do", "else", "fallthrough", "for",
    "guard", "if", "in", "repeat", "return", "throw", "switch", "where", "while", "as", "Any",
    "false", "is", "nil", "self", "Self", "super", "throws", "true", "try", "Type",
}

# Type names the generated code refers to; a nested struct may not shadow them.
RESERVED_TYPE_NAMES = {
    "ApiKey", "ByteBuffer", "KafkaUUID", "TaggedField", "TaggedFieldsWriter", "String", "Bool",
    "Int8", "Int16", "Int32", "Int64", "UInt16", "UInt32", "Double", "ProtocolDecodingError",
    "Response", "Self", "Type", "Array", "Optional",
}


class SchemaError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Schema parsing
# ---------------------------------------------------------------------------------------------

def strip_comments(text: str) -> str:
    """Removes // comments that are outside string literals."""
    out: list[str] = []
    i, n, in_string = 0, len(text), False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_string = False
            i += 1
        elif c == '"':
            in_string = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        else:
            out.append(c)
            i += 1
    return "".join(out)


def load_schema(path: Path) -> dict:
    try:
        return json.loads(strip_comments(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        raise SchemaError(f"{path}: {error}") from error


@dataclass(frozen=True)
class Versions:
    """An inclusive version range; empty when low > high."""
    low: int
    high: int

    @staticmethod
    def parse(spec: str | None, default: "Versions | None" = None) -> "Versions":
        if spec is None:
            if default is None:
                raise SchemaError("missing version range")
            return default
        spec = spec.strip()
        if spec == "none":
            return Versions(1, 0)
        if spec.endswith("+"):
            return Versions(int(spec[:-1]), MAX_VERSION)
        if "-" in spec:
            low, high = spec.split("-", 1)
            return Versions(int(low), int(high))
        return Versions(int(spec), int(spec))

    @property
    def empty(self) -> bool:
        return self.low > self.high

    def intersect(self, other: "Versions") -> "Versions":
        return Versions(max(self.low, other.low), min(self.high, other.high))

    def contains_all(self, versions: set[int]) -> bool:
        return all(self.low <= v <= self.high for v in versions)

    def set(self) -> frozenset[int]:
        return _version_set(self.low, self.high)

    def describe(self) -> str:
        if self.empty:
            return "none"
        if self.high == MAX_VERSION:
            return f"{self.low}+"
        if self.low == self.high:
            return f"{self.low}"
        return f"{self.low}-{self.high}"


@functools.lru_cache(maxsize=None)
def _version_set(low: int, high: int) -> frozenset[int]:
    # Open ranges ("N+") stop at the highest version any schema defines; no set needs more.
    return frozenset(range(low, min(high, HIGHEST_SCHEMA_VERSION) + 1))


PRIMITIVES = {
    # kafka type: (swift type, reader suffix, fixed size or None)
    "bool": ("Bool", "Bool", 1),
    "int8": ("Int8", "Int8", 1),
    "int16": ("Int16", "Int16", 2),
    "uint16": ("UInt16", "UInt16", 2),
    "int32": ("Int32", "Int32", 4),
    "uint32": ("UInt32", "UInt32", 4),
    "int64": ("Int64", "Int64", 8),
    "float64": ("Double", "Float64", 8),
    "uuid": ("KafkaUUID", "UUID", 16),
    "string": ("String", "String", None),
    "bytes": ("ByteBuffer", "Bytes", None),
    "records": ("ByteBuffer", "Records", None),
}


@dataclass
class FieldSpec:
    kafka_name: str
    swift_name: str
    kafka_type: str
    versions: Versions
    nullable: Versions
    tag: int | None
    tagged: Versions
    default: object
    flexible_override: Versions | None
    struct: "StructSpec | None" = None  # set for struct and []struct fields

    @property
    def is_array(self) -> bool:
        return self.kafka_type.startswith("[]")

    @property
    def element_type(self) -> str:
        return self.kafka_type[2:] if self.is_array else self.kafka_type


@dataclass
class StructSpec:
    kafka_name: str
    fields: list[FieldSpec]
    description: str
    reach: set[int] = field(default_factory=set)  # versions in which this struct can appear


@dataclass
class MessageSpec:
    name: str
    kind: str  # request, response, header, data
    api_key: int | None
    valid: Versions
    flexible: Versions
    schema_path: str
    root: StructSpec
    structs: dict[str, StructSpec]  # nested and common structs by Kafka name, in definition order

    def is_flexible(self, version: int) -> bool:
        return self.flexible.low <= version <= self.flexible.high


def lower_camel(name: str) -> str:
    return name[0].lower() + name[1:]


def upper_camel(name: str) -> str:
    return name[0].upper() + name[1:]


def swift_identifier(name: str) -> str:
    return f"`{name}`" if name in SWIFT_KEYWORDS else name


def parse_message(path: Path, schema_dir: Path) -> MessageSpec:
    raw = load_schema(path)
    name = raw["name"]
    valid = Versions.parse(raw["validVersions"])
    if valid.empty or valid.high > HIGHEST_SCHEMA_VERSION:
        raise SchemaError(f"{path.name}: validVersions {raw['validVersions']} is not supported")
    flexible = Versions.parse(raw.get("flexibleVersions", "none"))
    structs: dict[str, StructSpec] = {}
    common = {c["name"]: c for c in raw.get("commonStructs", [])}
    pending_common: dict[str, list[FieldSpec]] = {}

    def parse_fields(raw_fields: list[dict], owner: str) -> list[FieldSpec]:
        fields: list[FieldSpec] = []
        seen_tags: set[int] = set()
        for raw_field in raw_fields:
            field_name = raw_field["name"]
            where = f"{path.name}: {owner}.{field_name}"
            tagged = Versions.parse(raw_field.get("taggedVersions", "none"))
            versions = Versions.parse(raw_field.get("versions"), tagged if not tagged.empty else None)
            tag = raw_field.get("tag")
            if tag is not None:
                if tag in seen_tags:
                    raise SchemaError(f"{where}: duplicate tag {tag}")
                seen_tags.add(tag)
                if tagged.empty or tagged.high != MAX_VERSION:
                    raise SchemaError(f"{where}: taggedVersions must be open-ended")
                if tagged != versions:
                    raise SchemaError(f"{where}: fields that are tagged in only some of their versions are not supported")
            spec = FieldSpec(
                kafka_name=field_name,
                swift_name=lower_camel(field_name),
                kafka_type=raw_field["type"],
                versions=versions,
                nullable=Versions.parse(raw_field.get("nullableVersions", "none")),
                tag=tag,
                tagged=tagged,
                default=raw_field.get("default"),
                flexible_override=(Versions.parse(raw_field["flexibleVersions"])
                                   if "flexibleVersions" in raw_field else None),
            )
            element = spec.element_type
            if element not in PRIMITIVES:
                if spec.kafka_type.startswith("[][]"):
                    raise SchemaError(f"{where}: nested arrays are not allowed")
                if element in RESERVED_TYPE_NAMES or element == name:
                    raise SchemaError(f"{where}: struct name {element} clashes with a generated type")
                if "fields" in raw_field:
                    if element in structs or element in common:
                        raise SchemaError(f"{where}: struct {element} is defined twice")
                    described = f"An element of `{field_name}`" if spec.is_array else f"The `{field_name}` struct"
                    struct = StructSpec(element, [], f"{described} in {name}.")
                    structs[element] = struct
                    struct.fields = parse_fields(raw_field["fields"], element)
                    spec.struct = struct
                elif element in common:
                    pending_common.setdefault(element, []).append(spec)
                else:
                    raise SchemaError(f"{where}: unknown type {spec.kafka_type}")
                if not spec.is_array and not spec.nullable.intersect(versions).empty:
                    raise SchemaError(f"{where}: nullable struct fields are not supported")
            elif spec.is_array and element == "records":
                raise SchemaError(f"{where}: arrays of records are not allowed")
            if spec.kafka_type == "records" and tag is not None:
                raise SchemaError(f"{where}: records may not be tagged")
            if (spec.kafka_type in ("bool", "int8", "int16", "uint16", "int32", "uint32", "int64", "float64", "uuid")
                    and not spec.nullable.intersect(versions).empty):
                raise SchemaError(f"{where}: {spec.kafka_type} cannot be nullable")
            fields.append(spec)
        return fields

    root = StructSpec(name, [], "")
    root.fields = parse_fields(raw["fields"], name)
    # Common structs are parsed once, after the fields that refer to them.
    for common_name, raw_common in common.items():
        if common_name in structs:
            raise SchemaError(f"{path.name}: common struct {common_name} clashes with a nested struct")
        if common_name in RESERVED_TYPE_NAMES or common_name == name:
            raise SchemaError(f"{path.name}: common struct name {common_name} clashes with a generated type")
        struct = StructSpec(common_name, [], f"The common struct `{common_name}` of {name}.")
        structs[common_name] = struct
        struct.fields = parse_fields(raw_common["fields"], common_name)
    for common_name, users in pending_common.items():
        for user in users:
            user.struct = structs[common_name]

    # Which versions each struct can appear in: versions of the fields that lead to it.
    root.reach = valid.set()
    changed = True
    while changed:
        changed = False
        for struct in [root, *structs.values()]:
            for spec in struct.fields:
                if spec.struct is not None:
                    reach = struct.reach & spec.versions.set()
                    if not reach <= spec.struct.reach:
                        spec.struct.reach |= reach
                        changed = True
    rel = path.relative_to(schema_dir).as_posix()
    return MessageSpec(
        name=name,
        kind=raw["type"],
        api_key=raw.get("apiKey"),
        valid=valid,
        flexible=flexible,
        schema_path=rel,
        root=root,
        structs=structs,
    )


# ---------------------------------------------------------------------------------------------
# Swift emission
# ---------------------------------------------------------------------------------------------

def swift_string_literal(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def parse_int(value: object) -> int:
    if isinstance(value, bool):
        raise SchemaError(f"bad integer default {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    negative = text.startswith("-")
    if negative:
        text = text[1:]
    number = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    return -number if negative else number


class Emitter:
    """Emits the Swift code of one message (its root struct and all nested structs)."""

    def __init__(self, message: MessageSpec):
        self.message = message

    # --- types and defaults ------------------------------------------------------------------

    def nullable_in_some_version(self, spec: FieldSpec, reach: set[int]) -> bool:
        return bool(spec.nullable.set() & spec.versions.set() & reach)

    def element_swift_type(self, spec: FieldSpec) -> str:
        element = spec.element_type
        if element in PRIMITIVES:
            return PRIMITIVES[element][0]
        return element

    def swift_type(self, spec: FieldSpec, reach: set[int]) -> str:
        base = self.element_swift_type(spec)
        if spec.is_array:
            base = f"[{base}]"
        if spec.kafka_type == "records" or (spec.kafka_type in ("string", "bytes") or spec.is_array) and (
                self.nullable_in_some_version(spec, reach) or spec.default == "null"):
            return f"{base}?"
        return base

    def default_value(self, spec: FieldSpec, reach: set[int]) -> str:
        kind = spec.kafka_type
        default = spec.default
        if default == "null":
            if not spec.nullable.contains_all(spec.versions.set() & reach):
                raise SchemaError(f"{self.message.name}.{spec.kafka_name}: default null needs nullable in all versions")
            return "nil"
        if spec.is_array:
            if default not in (None, ""):
                raise SchemaError(f"{self.message.name}.{spec.kafka_name}: arrays cannot have a default")
            return "[]"
        if spec.struct is not None:
            return f"{spec.struct.kafka_name}()"
        if kind == "bool":
            if default is None:
                return "false"
            text = str(default).lower()
            if text not in ("true", "false"):
                raise SchemaError(f"{self.message.name}.{spec.kafka_name}: bad bool default {default!r}")
            return text
        if kind in ("int8", "int16", "uint16", "int32", "uint32", "int64"):
            value = 0 if default is None else parse_int(default)
            bits = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}.get(kind)
            if bits is not None and not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
                raise SchemaError(f"{self.message.name}.{spec.kafka_name}: default {default!r} out of range")
            return str(value)
        if kind == "float64":
            return repr(float(default)) if default is not None else "0.0"
        if kind == "string":
            return swift_string_literal("" if default is None else str(default))
        if kind == "bytes":
            if default not in (None, ""):
                raise SchemaError(f"{self.message.name}.{spec.kafka_name}: bytes cannot have a default")
            return "ByteBuffer()"
        if kind == "records":
            return "nil"
        if kind == "uuid":
            if default not in (None, ""):
                raise SchemaError(f"{self.message.name}.{spec.kafka_name}: uuid defaults are not supported")
            return ".zero"
        raise SchemaError(f"{self.message.name}.{spec.kafka_name}: no default for {kind}")

    # --- version conditions ------------------------------------------------------------------

    @staticmethod
    def condition(versions: Versions, reach: set[int]) -> str | None:
        """A Swift condition on `version` that is true exactly for versions in `versions`,
        assuming `version` is one of `reach`. None means always true; "false" never."""
        inside = versions.set() & reach
        if not inside:
            return "false"
        if inside == reach:
            return None
        low_needed = versions.low > min(reach)
        high_needed = versions.high < max(reach)
        if versions.low == versions.high:
            return f"version == {versions.low}"
        parts = []
        if low_needed:
            parts.append(f"version >= {versions.low}")
        if high_needed:
            parts.append(f"version <= {versions.high}")
        return " && ".join(parts) if parts else None

    def compact_expression(self, spec: FieldSpec, reach: set[int]) -> str:
        """Whether the field uses compact encodings, as a Swift Bool expression."""
        if not spec.is_array and spec.kafka_type not in ("string", "bytes", "records"):
            return "false"  # fixed-width and struct fields have no compact form
        flexible = self.message.flexible
        if spec.flexible_override is not None:
            flexible = spec.flexible_override
        present = spec.versions.set() & reach
        flexible_present = present & flexible.set()
        if not flexible_present:
            return "false"
        if flexible_present == present:
            return "true"
        if spec.flexible_override is not None:
            raise SchemaError(f"{spec.kafka_name}: a partial field-level flexibleVersions is not supported")
        return "flexible"

    # --- readers and writers -----------------------------------------------------------------

    def minimum_element_size(self, spec: FieldSpec) -> int:
        element = spec.element_type
        if element in PRIMITIVES and PRIMITIVES[element][2] is not None:
            return PRIMITIVES[element][2]
        return 1

    def read_value(self, spec: FieldSpec, nullable: bool, compact: str) -> str:
        """A Swift expression that reads one value of the field from `buffer`."""
        if spec.is_array:
            element = self.read_element(spec, "$0", compact)
            size = self.minimum_element_size(spec)
            helper = "readKafkaNullableArray" if nullable else "readKafkaArray"
            return (f"try buffer.{helper}(compact: {compact}, minimumElementSize: {size}) "
                    f"{{ {element} }}")
        return self.read_element(spec, "buffer", compact, nullable=nullable, element=False)

    def read_element(self, spec: FieldSpec, target: str, compact: str, nullable: bool = False,
                     element: bool = True) -> str:
        kind = spec.element_type
        if kind in PRIMITIVES:
            suffix = PRIMITIVES[kind][1]
            if kind in ("string", "bytes"):
                prefix = "readKafkaNullable" if nullable else "readKafka"
                return f"try {target}.{prefix}{suffix}(compact: {compact})"
            if kind == "records":
                return f"try {target}.readKafkaRecords(compact: {compact})"
            return f"try {target}.readKafka{suffix}()"
        return f"try {kind}(from: &{target}, version: version)"

    def write_value(self, spec: FieldSpec, value: str, nullable: bool, compact: str, target: str,
                    reach: set[int]) -> str:
        """A Swift statement that writes `value` (of the field's Swift type) to `target`."""
        optional_type = self.swift_type(spec, reach).endswith("?")
        if spec.is_array:
            if not nullable and optional_type:
                value = f"{value} ?? []"
            helper = "writeKafkaNullableArray" if nullable else "writeKafkaArray"
            element = self.write_element(spec, "$0", "$1", compact)
            return f"{target}.{helper}({value}, compact: {compact}) {{ {element} }}"
        kind = spec.kafka_type
        if kind in ("string", "bytes"):
            suffix = PRIMITIVES[kind][1]
            if nullable:
                return f"{target}.writeKafkaNullable{suffix}({value}, compact: {compact})"
            if optional_type:
                fallback = '""' if kind == "string" else "ByteBuffer()"
                value = f"{value} ?? {fallback}"
            return f"{target}.writeKafka{suffix}({value}, compact: {compact})"
        return self.write_element(spec, value, target, compact)

    def write_element(self, spec: FieldSpec, value: str, target: str, compact: str) -> str:
        kind = spec.element_type
        if kind in PRIMITIVES:
            suffix = PRIMITIVES[kind][1]
            if kind in ("string", "bytes", "records"):
                return f"{target}.writeKafka{suffix}({value}, compact: {compact})"
            return f"{target}.writeKafka{suffix}({value})"
        return f"{value}.write(to: &{target}, version: version)"

    # --- structs -----------------------------------------------------------------------------

    def field_doc(self, spec: FieldSpec) -> str:
        parts = [f"`{spec.kafka_name}`: {spec.kafka_type}, versions {spec.versions.describe()}"]
        nullable = spec.nullable.intersect(spec.versions)
        if not nullable.empty:
            parts.append(f"nullable in {nullable.describe()}")
        if spec.tag is not None:
            parts.append(f"tag {spec.tag}")
        if spec.default is not None:
            parts.append(f"default {spec.default}")
        return "; ".join(parts) + "."

    def emit_struct(self, struct: StructSpec, indent: str, header_lines: list[str],
                    conformances: str) -> list[str]:
        message = self.message
        reach = struct.reach
        can_be_flexible = bool(reach & message.flexible.set())
        fields = [f for f in struct.fields if f.versions.set() & reach]
        out: list[str] = []
        i1 = indent + "    "
        i2 = i1 + "    "
        i3 = i2 + "    "
        for line in header_lines:
            out.append(f"{indent}/// {line}" if line else f"{indent}///")
        out.append(f"{indent}public struct {struct.kafka_name}: {conformances} {{")
        out.extend(header_statics(message, struct, i1))
        # Nested structs are declared inside the message's root type.
        if struct is message.root:
            for nested in message.structs.values():
                if nested.reach:
                    out.extend(self.emit_struct(nested, i1, [nested.description], "Sendable, Equatable"))
                    out.append("")
        # Stored properties.
        for spec in fields:
            out.append(f"{i1}/// {self.field_doc(spec)}")
            out.append(f"{i1}public var {swift_identifier(spec.swift_name)}: {self.swift_type(spec, reach)}")
        if can_be_flexible:
            out.append(f"{i1}/// Tagged fields this code does not know, kept as raw bytes and written back unchanged.")
            out.append(f"{i1}public var unknownTaggedFields: [TaggedField]")
        if fields or can_be_flexible:
            out.append("")
        # Memberwise initializer.
        params = [f"{swift_identifier(spec.swift_name)}: {self.swift_type(spec, reach)} = {self.default_value(spec, reach)}"
                  for spec in fields]
        if can_be_flexible:
            params.append("unknownTaggedFields: [TaggedField] = []")
        out.append(f"{i1}/// Creates a value; every field defaults to its schema default.")
        if params:
            out.append(f"{i1}public init(")
            for index, param in enumerate(params):
                out.append(f"{i2}{param}{',' if index < len(params) - 1 else ''}")
            out.append(f"{i1}) {{")
        else:
            out.append(f"{i1}public init() {{")
        for spec in fields:
            name = swift_identifier(spec.swift_name)
            out.append(f"{i2}self.{spec.swift_name} = {name}")
        if can_be_flexible:
            out.append(f"{i2}self.unknownTaggedFields = unknownTaggedFields")
        out.append(f"{i1}}}")
        out.append("")
        out.extend(self.emit_reader(struct, fields, can_be_flexible, i1))
        out.append("")
        out.extend(self.emit_writer(struct, fields, can_be_flexible, i1))
        out.append(f"{indent}}}")
        return out

    def flexible_condition(self, reach: set[int]) -> str | None:
        return self.condition(self.message.flexible, reach)

    def emit_reader(self, struct: StructSpec, fields: list[FieldSpec], can_be_flexible: bool,
                    i1: str) -> list[str]:
        reach = struct.reach
        i2 = i1 + "    "
        body: list[str] = []
        is_root = struct is self.message.root
        if is_root:
            body.append(f"{i2}guard Self.validVersions.contains(version) else {{")
            body.append(f"{i2}    throw ProtocolDecodingError.unsupportedVersion(version)")
            body.append(f"{i2}}}")
        uses_flexible = False
        groups: list[tuple[str | None, list[str]]] = []
        for spec in fields:
            if spec.tag is not None:
                continue
            present = self.condition(spec.versions, reach)
            compact = self.compact_expression(spec, reach)
            uses_flexible |= compact == "flexible"
            reads = self.read_statements(spec, compact, reach)
            if present is None or present == "false":
                groups.append((present, reads))
            else:
                # A value decoded in place may hold this field from another version.
                groups.append((None, [f"if {present} {{", *(f"    {line}" for line in reads), "} else {",
                                      f"    self.{spec.swift_name} = {self.default_value(spec, reach)}", "}"]))
        flexible = self.flexible_condition(reach)
        tagged_fields = [f for f in fields if f.tag is not None]
        if can_be_flexible:
            resets = [f"self.{spec.swift_name} = {self.default_value(spec, reach)}" for spec in tagged_fields]
            resets.append("self.unknownTaggedFields.removeAll(keepingCapacity: true)")
            body.extend(f"{i2}{line}" for line in resets)
            groups.append((flexible, self.tagged_read_statements(tagged_fields, reach)))
        statements = merge_guarded(groups, i2)
        if uses_flexible:
            body.append(f"{i2}let flexible = {flexible}")
        body.extend(statements)
        out = [f"{i1}/// Decodes a value of the given version; throws ProtocolDecodingError on malformed input."]
        out.append(f"{i1}public init(from buffer: inout ByteBuffer, version: Int16) throws {{")
        out.append(f"{i2}self.init()")
        out.append(f"{i2}try decode(from: &buffer, version: version)")
        out.append(f"{i1}}}")
        out.append("")
        out.append(f"{i1}/// Decodes a value of the given version over this one, as if decoded anew, but keeping the")
        out.append(f"{i1}/// storage of its arrays (and of strings whose bytes are unchanged): a value decoded request")
        out.append(f"{i1}/// after request allocates nothing once it has held the largest. Throws ProtocolDecodingError")
        out.append(f"{i1}/// on malformed input, leaving the value partly decoded.")
        out.append(f"{i1}public mutating func decode(from buffer: inout ByteBuffer, version: Int16) throws {{")
        out.extend(body)
        out.append(f"{i1}}}")
        return out

    def read_statements(self, spec: FieldSpec, compact: str, reach: set[int]) -> list[str]:
        present_versions = spec.versions.set() & reach
        nullable_versions = spec.nullable.set() & present_versions
        target = f"self.{spec.swift_name}"
        in_place = self.read_in_place(spec, compact, reach, nullable=bool(nullable_versions))
        if in_place is not None and (not nullable_versions or nullable_versions == present_versions):
            return [in_place]
        if not nullable_versions:
            return [f"{target} = {self.read_value(spec, False, compact)}"]
        if nullable_versions == present_versions:
            return [f"{target} = {self.read_value(spec, True, compact)}"]
        cond = self.condition(spec.nullable, present_versions)
        return [f"if {cond} {{",
                f"    {target} = {self.read_value(spec, True, compact)}",
                "} else {",
                f"    {target} = {self.read_value(spec, False, compact)}",
                "}"]

    def read_in_place(self, spec: FieldSpec, compact: str, reach: set[int], nullable: bool) -> str | None:
        """A statement that decodes the field over its current value, keeping its storage, for
        arrays, strings and nested structs whose Swift type matches the wire's nullability;
        None for the others, which are assigned anew."""
        target = f"self.{spec.swift_name}"
        optional = self.swift_type(spec, reach).endswith("?")
        if optional != nullable:
            return None
        if spec.is_array:
            kind = spec.element_type
            size = self.minimum_element_size(spec)
            helper = "readKafkaNullableArray" if nullable else "readKafkaArray"
            if kind in PRIMITIVES:
                if kind == "string":
                    blank = '""'
                    element = f"try $1.readKafkaString(into: &$0, compact: {compact})"
                else:
                    return None
            else:
                blank = f"{kind}()"
                element = "try $0.decode(from: &$1, version: version)"
            return (f"try buffer.{helper}(into: &{target}, compact: {compact}, minimumElementSize: {size}, "
                    f"blank: {{ {blank} }}) {{ {element} }}")
        if spec.kafka_type == "string":
            helper = "readKafkaNullableString" if nullable else "readKafkaString"
            return f"try buffer.{helper}(into: &{target}, compact: {compact})"
        if spec.struct is not None and not nullable:
            return f"try {target}.decode(from: &buffer, version: version)"
        return None

    def tagged_read_statements(self, tagged_fields: list[FieldSpec], reach: set[int]) -> list[str]:
        if not tagged_fields:
            return ["try buffer.readKafkaUnknownTaggedFields(into: &self.unknownTaggedFields)"]
        reach = reach & self.message.flexible.set()
        lines = ["let taggedFieldCount = try buffer.readKafkaTaggedFieldCount()",
                 "for _ in 0..<taggedFieldCount {",
                 "    let (tag, slice) = try buffer.readKafkaTaggedField()",
                 "    var field = slice",
                 "    switch tag {"]
        for spec in sorted(tagged_fields, key=lambda f: f.tag):
            present = spec.tagged.set() & reach
            nullable = bool(spec.nullable.set() & present)
            if nullable and not spec.nullable.contains_all(present):
                raise SchemaError(f"{spec.kafka_name}: a tagged field must be nullable in all its versions or none")
            cond = self.condition(spec.tagged, reach)
            case = f"    case {spec.tag}" + (f" where {cond}" if cond else "") + ":"
            lines.append(case)
            value = self.read_value(spec, nullable, "true").replace("try buffer.", "try field.")
            if spec.struct is not None and not spec.is_array:
                value = f"try {spec.struct.kafka_name}(from: &field, version: version)"
            lines.append(f"        self.{spec.swift_name} = {value}")
        lines.append("    default:")
        lines.append("        self.unknownTaggedFields.append(TaggedField(tag: tag, data: field))")
        lines.append("    }")
        lines.append("}")
        return lines

    def emit_writer(self, struct: StructSpec, fields: list[FieldSpec], can_be_flexible: bool,
                    i1: str) -> list[str]:
        reach = struct.reach
        i2 = i1 + "    "
        body: list[str] = []
        uses_flexible = False
        groups: list[tuple[str | None, list[str]]] = []
        for spec in fields:
            if spec.tag is not None:
                continue
            present = self.condition(spec.versions, reach)
            compact = self.compact_expression(spec, reach)
            uses_flexible |= compact == "flexible"
            groups.append((present, self.write_statements(spec, compact, reach)))
        flexible = self.flexible_condition(reach)
        if can_be_flexible:
            tagged_fields = [f for f in fields if f.tag is not None]
            groups.append((flexible, self.tagged_write_statements(tagged_fields, reach)))
        statements = merge_guarded(groups, i2)
        if struct is self.message.root:
            body.append(f"{i2}assert(Self.validVersions.contains(version), \"unsupported version \\(version)\")")
        if uses_flexible:
            body.append(f"{i2}let flexible = {flexible}")
        body.extend(statements)
        out = [f"{i1}/// Encodes this value in the given version. Fields the version lacks are left out."]
        out.append(f"{i1}public func write(to buffer: inout ByteBuffer, version: Int16) {{")
        out.extend(body)
        out.append(f"{i1}}}")
        return out

    def write_statements(self, spec: FieldSpec, compact: str, reach: set[int]) -> list[str]:
        present_versions = spec.versions.set() & reach
        nullable_versions = spec.nullable.set() & present_versions
        value = f"self.{spec.swift_name}"
        if not nullable_versions:
            return [self.write_value(spec, value, False, compact, "buffer", reach)]
        if nullable_versions == present_versions:
            return [self.write_value(spec, value, True, compact, "buffer", reach)]
        cond = self.condition(spec.nullable, present_versions)
        return [f"if {cond} {{",
                f"    {self.write_value(spec, value, True, compact, 'buffer', reach)}",
                "} else {",
                f"    {self.write_value(spec, value, False, compact, 'buffer', reach)}",
                "}"]

    def tagged_write_statements(self, tagged_fields: list[FieldSpec], reach: set[int]) -> list[str]:
        if not tagged_fields:
            return ["buffer.writeKafkaTaggedFields(self.unknownTaggedFields)"]
        reach = reach & self.message.flexible.set()
        lines = ["var taggedFields = TaggedFieldsWriter(unknown: self.unknownTaggedFields)"]
        for spec in sorted(tagged_fields, key=lambda f: f.tag):
            present = spec.tagged.set() & reach
            nullable = bool(spec.nullable.set() & present)
            default = self.default_value(spec, reach)
            value = f"self.{spec.swift_name}"
            if default == "[]":
                differs = f"!{value}.isEmpty"
            elif default == "nil":
                differs = f"{value} != nil"
            else:
                differs = f"{value} != {default}"
            cond = self.condition(spec.tagged, reach)
            if cond:
                differs = f"{cond} && {differs}"
            if spec.struct is not None and not spec.is_array:
                write = f"{value}.write(to: &$0, version: version)"
            else:
                write = self.write_value(spec, value, nullable, "true", "$0", reach)
            lines.append(f"if {differs} {{")
            lines.append(f"    taggedFields.add(tag: {spec.tag}) {{ {write} }}")
            lines.append("}")
        lines.append("taggedFields.write(to: &buffer)")
        return lines

    def emit_message(self, header_lines: list[str], conformances: str) -> list[str]:
        return self.emit_struct(self.message.root, "", header_lines, conformances)


def merge_guarded(groups: list[tuple[str | None, list[str]]], indent: str) -> list[str]:
    """Emits statement groups, each under its condition, merging neighbours with equal conditions."""
    merged: list[tuple[str | None, list[str]]] = []
    for condition, lines in groups:
        if merged and merged[-1][0] == condition:
            merged[-1][1].extend(lines)
        else:
            merged.append((condition, list(lines)))
    out: list[str] = []
    for condition, lines in merged:
        out.extend(guarded(condition, lines, indent))
    return out


def guarded(condition: str | None, lines: list[str], indent: str) -> list[str]:
    if condition == "false":
        return []
    if condition is None:
        return [indent + line for line in lines]
    return [f"{indent}if {condition} {{", *[indent + "    " + line for line in lines], f"{indent}}}"]


def header_statics(message: MessageSpec, struct: StructSpec, indent: str) -> list[str]:
    if struct is not message.root:
        return []
    out: list[str] = []
    if message.kind in ("request", "response"):
        out.append(f"{indent}/// The API key of this message.")
        out.append(f"{indent}public static let apiKey: ApiKey = .{lower_camel(api_name(message.name))}")
    if message.kind == "request":
        out.append(f"{indent}/// The response type of this request.")
        out.append(f"{indent}public typealias Response = {api_name(message.name)}Response")
    out.append(f"{indent}/// The versions the schema defines.")
    out.append(f"{indent}public static let validVersions: ClosedRange<Int16> = {message.valid.low}...{message.valid.high}")
    out.append(f"{indent}/// The versions that use compact encodings and tagged fields; nil if none do.")
    out.append(f"{indent}public static let flexibleVersions: PartialRangeFrom<Int16>? = {flexible_literal(message.flexible)}")
    out.append("")
    return out


def flexible_literal(flexible: Versions) -> str:
    if flexible.empty:
        return "nil"
    if flexible.high != MAX_VERSION:
        raise SchemaError("flexibleVersions must be open-ended")
    return f"{flexible.low}..."


def api_name(message_name: str) -> str:
    for suffix in ("Request", "Response"):
        if message_name.endswith(suffix):
            return message_name[: -len(suffix)]
    return message_name


def file_header(sources: list[str]) -> list[str]:
    lines = [f"// Generated by tools/kafka-codegen/generate.py from Apache Kafka commit {KAFKA_COMMIT}:"]
    for source in sources:
        lines.append(f"//   shared/kafka-protocol/{source}")
    lines.append("// Do not edit; change the generator or the schemas and regenerate.")
    lines.append("")
    return lines


def message_doc(message: MessageSpec) -> list[str]:
    flexible = "none" if message.flexible.empty else message.flexible.describe()
    kinds = {"request": "request", "response": "response", "header": "header", "data": "data record"}
    first = f"The Kafka {message.name} {kinds.get(message.kind, message.kind)}"
    if message.api_key is not None:
        first += f" (API key {message.api_key})"
    return [f"{first}: versions {message.valid.describe()}, flexible versions {flexible}."]


def conformance(message: MessageSpec) -> str:
    return {"request": "RequestMessage", "response": "ResponseMessage"}.get(message.kind, "ProtocolMessage")


def render_messages(messages: list[MessageSpec]) -> str:
    lines = file_header([m.schema_path for m in messages])
    lines.append("import NIOCore")
    for message in messages:
        lines.append("")
        lines.extend(Emitter(message).emit_message(message_doc(message), conformance(message)))
    return "\n".join(lines) + "\n"


# --- ApiKey and KafkaErrorCode ---------------------------------------------------------------

@dataclass
class ApiKeySpec:
    name: str
    api_key: int
    valid: Versions
    flexible: Versions


def render_api_keys(requests: list[ApiKeySpec], generated: dict[int, MessageSpec]) -> str:
    lines = file_header(["*Request.json"])
    lines.append("/// The Kafka API keys the schemas define, with the schemas' version ranges.")
    lines.append("///")
    lines.append("/// Which versions the broker advertises is a broker decision, not listed here.")
    lines.append("public enum ApiKey: Int16, Sendable, CaseIterable {")
    for message in requests:
        lines.append(f"    /// {message.name} (key {message.api_key}).")
        lines.append(f"    case {lower_camel(message.name)} = {message.api_key}")
    lines.append("")

    def switch(name: str, doc: str, type_: str, value) -> None:
        lines.append(f"    /// {doc}")
        lines.append(f"    public var {name}: {type_} {{")
        lines.append("        switch self {")
        for message in requests:
            lines.append(f"        case .{lower_camel(message.name)}: {value(message)}")
        lines.append("        }")
        lines.append("    }")
        lines.append("")

    switch("name", "Kafka's name of the API, e.g. \"Produce\".", "String",
           lambda m: swift_string_literal(m.name))
    switch("schemaVersions", "The request versions the schema defines.", "ClosedRange<Int16>",
           lambda m: f"{m.valid.low}...{m.valid.high}")
    switch("flexibleVersions",
           "The versions with compact encodings and tagged fields (header v2 / v1); nil if none.",
           "PartialRangeFrom<Int16>?", lambda m: flexible_literal(m.flexible))
    switch("generatedVersions",
           "The versions ApusProtocol has codecs for; nil if this API is not generated.",
           "ClosedRange<Int16>?",
           lambda m: f"{m.valid.low}...{m.valid.high}" if m.api_key in generated else "nil")
    lines.pop()
    lines.append("}")
    return "\n".join(lines) + "\n"


def error_case_name(name: str) -> str:
    if name == "NONE":
        return "noError"
    words = name.lower().split("_")
    return words[0] + "".join(w.capitalize() for w in words[1:])


def render_errors(schema_dir: Path) -> str:
    path = schema_dir / "errors.tsv"
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
    except OSError as error:
        raise SchemaError(f"{path}: {error}") from error
    lines = file_header(["errors.tsv"])
    lines.append("/// The error codes of the Kafka protocol, with Kafka's names and whether a client may retry.")
    lines.append("///")
    lines.append("/// Code 0 is `noError` (Kafka's NONE), so that it is never confused with `Optional.none`.")
    lines.append("public enum KafkaErrorCode: Int16, Sendable, CaseIterable {")
    entries = []
    for row in rows:
        code = int(row["code"])
        name = row["name"].strip()
        retriable = row["retriable"].strip().lower()
        if retriable not in ("true", "false"):
            raise SchemaError(f"{path}: bad retriable value for {name}")
        entries.append((code, name, retriable == "true", error_case_name(name)))
    for code, name, _, case in entries:
        lines.append(f"    /// {name}")
        lines.append(f"    case {swift_identifier(case)} = {code}")
    lines.append("")
    lines.append("    /// Kafka's name of the error, e.g. \"UNKNOWN_TOPIC_OR_PARTITION\".")
    lines.append("    public var name: String {")
    lines.append("        switch self {")
    for code, name, _, case in entries:
        lines.append(f"        case .{case}: {swift_string_literal(name)}")
    lines.append("        }")
    lines.append("    }")
    lines.append("")
    lines.append("    /// Whether a client may retry the request that failed with this error.")
    lines.append("    public var isRetriable: Bool {")
    lines.append("        switch self {")
    retriable_cases = [case for _, _, retriable, case in entries if retriable]
    for index in range(0, len(retriable_cases), 4):
        chunk = ", ".join(f".{c}" for c in retriable_cases[index:index + 4])
        last = index + 4 >= len(retriable_cases)
        lines.append(f"        {'case ' if index == 0 else '     '}{chunk}{':' if last else ','}")
    lines.append("            true")
    lines.append("        default:")
    lines.append("            false")
    lines.append("        }")
    lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- test samples ------------------------------------------------------------------------------

class SampleEmitter:
    """Emits, for tests, a `sample(version:nulls:)` per struct that sets every field present in
    the version to a non-default value (or to nil where nullable, when `nulls` is true)."""

    def __init__(self, message: MessageSpec):
        self.message = message
        self.emitter = Emitter(message)

    def qualified(self, struct: StructSpec) -> str:
        if struct is self.message.root:
            return self.message.name
        return f"{self.message.name}.{struct.kafka_name}"

    def value(self, spec: FieldSpec, reach: set[int]) -> str:
        if spec.is_array:
            element = self.element_value(spec, 0)
            other = self.element_value(spec, 1)
            return f"[{element}, {other}]"
        return self.element_value(spec, 0)

    def element_value(self, spec: FieldSpec, index: int) -> str:
        kind = spec.element_type
        seed = zlib.crc32(f"{self.message.name}.{spec.kafka_name}.{index}".encode())
        if spec.struct is not None:
            return f"{self.qualified(spec.struct)}.sample(version: version, nulls: nulls)"
        if kind == "bool":
            default = str(spec.default).lower() == "true" if not spec.is_array else False
            return "false" if default else "true"
        if kind in ("int8", "int16", "uint16", "int32", "uint32", "int64"):
            limit = {"int8": 100, "int16": 30000, "uint16": 60000}.get(kind, 2_000_000_000)
            value = seed % limit + 2
            if not spec.is_array and spec.default is not None and parse_int(spec.default) == value:
                value += 1
            if kind == "int64":
                value = value * 1000 + 7
            return str(value)
        if kind == "float64":
            return f"{seed % 1000}.5"
        if kind == "uuid":
            return f"KafkaUUID(mostSignificantBits: {seed}, leastSignificantBits: {seed * 31 + index})"
        if kind == "string":
            return swift_string_literal(f"{spec.swift_name}-{index}-é")
        if kind in ("bytes", "records"):
            data = ", ".join(str((seed >> (8 * i)) & 0xFF) for i in range(3 + index))
            return f"ByteBuffer(bytes: [{data}])"
        raise SchemaError(f"no sample for {kind}")

    def emit_struct(self, struct: StructSpec) -> list[str]:
        reach = struct.reach
        name = self.qualified(struct)
        fields = [f for f in struct.fields if f.versions.set() & reach]
        out = [f"extension {name}{': Sampled' if struct is self.message.root else ''} {{",
               "    static func sample(version: Int16, nulls: Bool) -> Self {"]
        body: list[str] = []
        can_be_flexible = bool(reach & self.message.flexible.set())
        if fields or can_be_flexible:
            body.append("var value = Self()")
            groups: list[tuple[str | None, list[str]]] = []
            for spec in fields:
                versions = spec.tagged if spec.tag is not None else spec.versions
                present = Emitter.condition(versions, reach)
                target = f"value.{spec.swift_name}"
                nullable_versions = spec.nullable.set() & versions.set() & reach
                if nullable_versions:
                    cond = Emitter.condition(spec.nullable, versions.set() & reach)
                    cond = "nulls" if cond is None else f"nulls && {cond}"
                    lines = [f"{target} = {cond} ? nil : {self.value(spec, reach)}"]
                else:
                    lines = [f"{target} = {self.value(spec, reach)}"]
                groups.append((present, lines))
            if can_be_flexible:
                # A tag no schema uses, to prove unknown tagged fields survive a round trip.
                unknown = "[TaggedField(tag: 1000, data: ByteBuffer(bytes: [7, 8, 9]))]"
                groups.append((Emitter.condition(self.message.flexible, reach),
                               [f"value.unknownTaggedFields = {unknown}"]))
            body.extend(merge_guarded(groups, ""))
            body.append("return value")
        else:
            body.append("Self()")
        out.extend("        " + line for line in body)
        out.append("    }")
        out.append("}")
        return out

    def emit(self) -> list[str]:
        out: list[str] = []
        for struct in [self.message.root, *self.message.structs.values()]:
            if struct.reach:
                out.extend(self.emit_struct(struct))
                out.append("")
        return out


def render_samples(messages: list[MessageSpec]) -> str:
    lines = file_header(["(every generated message)"])
    lines.append("import ApusProtocol")
    lines.append("import NIOCore")
    lines.append("")
    lines.append("/// Every generated message type, for the round-trip and truncation tests.")
    lines.append("let allGeneratedMessages: [any Sampled.Type] = [")
    for message in messages:
        lines.append(f"    {message.name}.self,")
    lines.append("]")
    lines.append("")
    for message in messages:
        lines.extend(SampleEmitter(message).emit())
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------

def generate(schema_dir: Path) -> dict[Path, str]:
    """Returns the generated files, relative to the repository root."""
    files: dict[Path, str] = {}
    all_messages: list[MessageSpec] = []
    generated_requests: dict[int, MessageSpec] = {}
    seen: set[str] = set()
    for kind, name in MESSAGES:
        if name in seen:
            raise SchemaError(f"{name} is listed twice in MESSAGES")
        seen.add(name)
        if kind == "api":
            request = parse_message(schema_dir / f"{name}Request.json", schema_dir)
            response = parse_message(schema_dir / f"{name}Response.json", schema_dir)
            if request.kind != "request" or response.kind != "response":
                raise SchemaError(f"{name}: expected a request and a response schema")
            if request.api_key != response.api_key:
                raise SchemaError(f"{name}: request and response API keys differ")
            generated_requests[request.api_key] = request
            group = [request, response]
            file_name = name
        elif kind == "data":
            message = parse_message(schema_dir / f"{name}.json", schema_dir)
            if message.kind != "data":
                raise SchemaError(f"{name}: expected a data schema, found {message.kind}")
            group = [message]
            file_name = message.name
        else:
            raise SchemaError(f"unknown kind {kind} for {name}")
        files[GENERATED_SOURCES / f"{file_name}.swift"] = render_messages(group)
        all_messages.extend(group)

    headers = [parse_message(schema_dir / f"{name}.json", schema_dir) for name in HEADER_SCHEMAS]
    files[GENERATED_SOURCES / "Headers.swift"] = render_messages(headers)
    all_messages.extend(headers)

    # Every API key, generated or not, so headers of any request can be framed.
    requests: list[ApiKeySpec] = []
    for path in sorted(schema_dir.glob("*Request.json")):
        raw = load_schema(path)
        if raw.get("type") != "request":
            continue
        response = load_schema(schema_dir / f"{api_name(raw['name'])}Response.json")
        if (response.get("validVersions") != raw.get("validVersions")
                or response.get("flexibleVersions", "none") != raw.get("flexibleVersions", "none")):
            raise SchemaError(f"{raw['name']}: request and response versions differ; ApiKey cannot describe both")
        requests.append(ApiKeySpec(api_name(raw["name"]), int(raw["apiKey"]),
                                   Versions.parse(raw["validVersions"]),
                                   Versions.parse(raw.get("flexibleVersions", "none"))))
    requests.sort(key=lambda spec: spec.api_key)
    files[GENERATED_SOURCES / "ApiKey.swift"] = render_api_keys(requests, generated_requests)
    files[GENERATED_SOURCES / "KafkaErrorCode.swift"] = render_errors(schema_dir)
    files[GENERATED_TESTS / "Samples.swift"] = render_samples(all_messages)
    return files


def render_message_table(schema_dir: Path, repo_root: Path) -> dict[Path, str]:
    """The table of generated messages in Docs/protocol.md, between its two marker lines."""
    path = repo_root / PROTOCOL_DOC
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SchemaError(f"{path}: {error}") from error
    begin, end = text.find(TABLE_BEGIN), text.find(TABLE_END)
    if begin < 0 or end < begin:
        raise SchemaError(f"{path}: missing the lines {TABLE_BEGIN} and {TABLE_END}")
    rows = ["| Swift types | API key | Versions | Flexible versions |",
            "|---|---|---|---|"]
    for kind, name in MESSAGES:
        if kind == "api":
            message = parse_message(schema_dir / f"{name}Request.json", schema_dir)
            types = f"`{name}Request`, `{name}Response`"
            key = str(message.api_key)
        else:
            message = parse_message(schema_dir / f"{name}.json", schema_dir)
            types = f"`{message.name}`"
            key = "(data)"
        flexible = "none" if message.flexible.empty else message.flexible.describe()
        rows.append(f"| {types} | {key} | {message.valid.describe()} | {flexible} |")
    for name in HEADER_SCHEMAS:
        message = parse_message(schema_dir / f"{name}.json", schema_dir)
        rows.append(f"| `{name}` | (header) | {message.valid.describe()} | "
                    f"{message.flexible.describe()} |")
    table = "\n".join(rows)
    content = text[: begin + len(TABLE_BEGIN)] + "\n" + table + "\n" + text[end:]
    return {PROTOCOL_DOC: content}


def main() -> int:
    repo_root = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schemas", type=Path,
                        default=Path(os.environ.get("APUS_KAFKA_SCHEMAS", repo_root.parent / "shared" / "kafka-protocol")),
                        help="directory of Kafka's JSON schemas (env APUS_KAFKA_SCHEMAS; "
                             "default <repo>/../shared/kafka-protocol)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 and list the files that differ from what would be generated")
    args = parser.parse_args()
    schema_dir: Path = args.schemas.resolve()
    if not schema_dir.is_dir():
        print(f"error: schema directory {schema_dir} not found (use --schemas or APUS_KAFKA_SCHEMAS)", file=sys.stderr)
        return 2
    try:
        files = generate(schema_dir)
        files.update(render_message_table(schema_dir, repo_root))
    except SchemaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    stale: list[str] = []
    for relative, content in sorted(files.items()):
        target = repo_root / relative
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != content:
            stale.append(f"{relative}" + (" (missing)" if current is None else ""))
            if not args.check:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content, encoding="utf-8")
    for directory in (GENERATED_SOURCES, GENERATED_TESTS):
        for existing in sorted((repo_root / directory).glob("*.swift")):
            relative = existing.relative_to(repo_root)
            if relative not in files:
                stale.append(f"{relative} (no longer generated)")
                if not args.check:
                    existing.unlink()
    if args.check:
        if stale:
            print("Generated protocol code is stale; run python3 tools/kafka-codegen/generate.py", file=sys.stderr)
            for entry in stale:
                print(f"  {entry}", file=sys.stderr)
            return 1
        print(f"Generated protocol code is up to date ({len(files)} files).")
        return 0
    print(f"Wrote {len(stale)} of {len(files)} generated files." if stale else f"All {len(files)} generated files were up to date.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
