"""A safetensors writer for torch tensors (Debian has no python3-safetensors package).

The format: an 8-byte little-endian header length N, N bytes of JSON
({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}), then the raw
little-endian data of every tensor, back to back. Laid out as the reference implementation
does (and stride's serializeSafetensors): tensors by descending dtype alignment, then by name;
compact JSON padded with spaces to a multiple of 8 bytes.
"""
import json
import os
import struct

import numpy as np
import torch

# dtype code, element alignment rank (the reference implementation's Dtype enum order), numpy type.
_CODES = {
    torch.float64: ("F64", 12, "<f8"),
    torch.float32: ("F32", 11, "<f4"),
    torch.int64: ("I64", 13, "<i8"),
    torch.int32: ("I32", 9, "<i4"),
    torch.uint8: ("U8", 1, "u1"),
    torch.bool: ("BOOL", 0, "?"),
}


def save(path, tensors, metadata=None):
    """Writes {name: tensor} to path atomically (a temporary file renamed over it)."""
    items = []
    for name, t in tensors.items():
        if t.dtype not in _CODES:
            raise ValueError(f"{name}: dtype {t.dtype} is not written by this script")
        code, rank, np_type = _CODES[t.dtype]
        data = t.detach().cpu().contiguous().numpy().astype(np_type, copy=False).tobytes()
        items.append((rank, name, code, list(t.shape), data))
    items.sort(key=lambda it: (-it[0], it[1].encode("utf-8")))
    header = {}
    if metadata:
        header["__metadata__"] = {k: str(metadata[k]) for k in sorted(metadata)}
    offset = 0
    for _, name, code, shape, data in items:
        header[name] = {"dtype": code, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for *_, data in items:
            f.write(data)
    os.replace(tmp, path)


def load(path):
    """Reads {name: tensor} from a safetensors file written by stride or by this module."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    by_code = {code: np_type for code, _, np_type in _CODES.values()}
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data, dtype=by_code[entry["dtype"]], count=(end - begin) // np.dtype(by_code[entry["dtype"]]).itemsize,
                              offset=8 + n + begin)
        out[name] = torch.from_numpy(array.copy()).reshape(entry["shape"])
    return out
