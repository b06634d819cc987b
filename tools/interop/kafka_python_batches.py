#!/usr/bin/env python3
"""Record batch v2 interop with kafka-python, an implementation we did not write.

  encode DIR   write batches encoded by kafka-python as DIR/<name>.bin, with DIR/<name>.json
               describing what went in (records and producer fields)
  decode DIR   decode every DIR/<name>.bin (written by Apus) with kafka-python, check its CRC,
               and write DIR/<name>.decoded.json

Keys, values and header values are hex strings, or null. Used by ApusRecordTests.
"""
import json
import os
import sys

from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

CODECS = {"none": 0, "gzip": 1, "lz4": 3}


def hexify(b):
    return None if b is None else bytes(b).hex()


def unhex(s):
    return None if s is None else bytes.fromhex(s)


def shapes():
    json_value = b'{"user":116740,"event":"click","page":"/p/2254","country":"GB","ok":true}'
    big = bytes((i * 131 + 7) % 256 for i in range(200_000))
    return {
        "single": [(1_700_000_000_000, b"k", b"v", [])],
        "nulls": [(5, None, None, []), (6, b"", b"", [])],
        "headers": [(10, b"key", b"value", [("trace", b"\x01\x02\x03"), ("empty", b""), ("\u00fcnicode", b"x")])],
        "large": [(99, None, big, [])],
        "many": [(1_700_000_000_000 + (i * 7919) % 1000 - 500, None if i % 3 == 0 else b"k%d" % i, json_value, [])
                 for i in range(3000)],
    }


def encode(directory):
    for codec_name, codec in CODECS.items():
        for shape, records in shapes().items():
            name = f"{shape}-{codec_name}"
            builder = DefaultRecordBatchBuilder(
                magic=2, compression_type=codec, is_transactional=False,
                producer_id=4242, producer_epoch=3, base_sequence=17, batch_size=1 << 30)
            for offset, (ts, key, value, headers) in enumerate(records):
                builder.append(offset, timestamp=ts, key=key, value=value, headers=headers)
            data = builder.build()
            with open(os.path.join(directory, name + ".bin"), "wb") as f:
                f.write(bytes(data))
            description = {
                "codec": codec_name, "producer_id": 4242, "producer_epoch": 3, "base_sequence": 17,
                "records": [{"offset": i, "timestamp": ts, "key": hexify(k), "value": hexify(v),
                             "headers": [[hk, hexify(hv)] for hk, hv in h]}
                            for i, (ts, k, v, h) in enumerate(records)],
            }
            with open(os.path.join(directory, name + ".json"), "w") as f:
                json.dump(description, f)


def decode(directory):
    for entry in sorted(os.listdir(directory)):
        if not entry.endswith(".bin"):
            continue
        with open(os.path.join(directory, entry), "rb") as f:
            batch = DefaultRecordBatch(bytearray(f.read()))
        result = {
            "crc_valid": batch.validate_crc(), "base_offset": batch.base_offset,
            "compression": batch.compression_type, "producer_id": batch.producer_id,
            "producer_epoch": batch.producer_epoch, "base_sequence": batch.base_sequence,
            "records": [{"offset": r.offset, "timestamp": r.timestamp, "key": hexify(r.key),
                         "value": hexify(r.value), "headers": [[k, hexify(v)] for k, v in r.headers]}
                        for r in batch],
        }
        with open(os.path.join(directory, entry[:-4] + ".decoded.json"), "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("encode", "decode"):
        sys.exit("usage: kafka_python_batches.py encode|decode DIR")
    (encode if sys.argv[1] == "encode" else decode)(sys.argv[2])
