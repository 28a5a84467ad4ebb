"""Writes the bundled Fashion-MNIST subset: data/fashion-mnist-subset/*.gz (Python standard library only).

The first 600 training images of each class and the first 100 test images of each class, kept
in their original order, as IDX files gzipped deterministically (no file name, mtime 0), read
from Debian's dataset-fashion-mnist package:

    /usr/bin/python3 tools/data/make_fashion_subset.py [SOURCE_DIR]

SOURCE_DIR defaults to /usr/share/datasets/fashion-mnist.
"""
import gzip
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "data", "fashion-mnist-subset")
CLASSES = 10
SPLITS = {"train": 600, "t10k": 100}


def read_idx(path, magic):
    """(sizes, element bytes) of an unsigned-byte IDX file, checking magic and length."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    (found, ) = struct.unpack_from(">I", data, 0)
    if found != magic:
        sys.exit(f"{path}: magic 0x{found:08x}, expected 0x{magic:08x}")
    ndim = magic & 0xFF
    sizes = struct.unpack_from(">" + "I" * ndim, data, 4)
    header = 4 + 4 * ndim
    count = 1
    for s in sizes:
        count *= s
    if len(data) != header + count:
        sys.exit(f"{path}: {len(data)} bytes, expected {header + count}")
    return sizes, data[header:]


def write_idx_gz(path, magic, sizes, body):
    raw = struct.pack(">I", magic) + struct.pack(">" + "I" * len(sizes), *sizes) + body
    with open(path, "wb") as out:
        # filename="" and mtime=0 keep the gzip header free of anything that varies between runs.
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as g:
            g.write(raw)


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    os.makedirs(OUT, exist_ok=True)
    for split, per_class in SPLITS.items():
        (n, rows, cols), images = read_idx(os.path.join(source, f"{split}-images-idx3-ubyte.gz"), 0x00000803)
        (n_labels, ), labels = read_idx(os.path.join(source, f"{split}-labels-idx1-ubyte.gz"), 0x00000801)
        if n != n_labels:
            sys.exit(f"{split}: {n} images but {n_labels} labels")
        taken = [0] * CLASSES
        keep = []
        for i, label in enumerate(labels):
            if label >= CLASSES:
                sys.exit(f"{split}: label {i} is {label}")
            if taken[label] < per_class:
                taken[label] += 1
                keep.append(i)
        if taken != [per_class] * CLASSES:
            sys.exit(f"{split}: only {taken} images per class")
        size = rows * cols
        write_idx_gz(os.path.join(OUT, f"{split}-images-idx3-ubyte.gz"), 0x00000803, (len(keep), rows, cols),
                     b"".join(images[i * size:(i + 1) * size] for i in keep))
        write_idx_gz(os.path.join(OUT, f"{split}-labels-idx1-ubyte.gz"), 0x00000801, (len(keep), ),
                     bytes(labels[i] for i in keep))
        print(f"{split}: {len(keep)} of {n} images ({per_class} per class)")


if __name__ == "__main__":
    main()
