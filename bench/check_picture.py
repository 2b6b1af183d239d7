"""Checks that a screenshot is a real picture: a PNG of the expected size with enough distinct
colours (a blank or error page has a handful). Usage: check_picture.py FILE.png WIDTH HEIGHT"""
import struct
import sys
import zlib

path, width, height = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
pos, chunks = 8, {}
idat = b""
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        chunks["IHDR"] = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
w, h, depth, colour = chunks["IHDR"][:4]
assert (w, h) == (width, height), f"{path}: {w}x{h}, expected {width}x{height}"
assert depth == 8 and colour in (2, 6), f"{path}: unexpected PNG format (depth {depth}, colour type {colour})"
channels = 3 if colour == 2 else 4
raw = zlib.decompress(idat)
stride = w * channels
colours = set()
prev = bytearray(stride)
pos = 0
for _ in range(h):
    f = raw[pos]
    line = bytearray(raw[pos + 1:pos + 1 + stride])
    pos += 1 + stride
    for i in range(stride):  # undo the PNG row filter
        a = line[i - channels] if i >= channels else 0
        b = prev[i]
        c = prev[i - channels] if i >= channels else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
    for x in range(0, stride, channels * 7):
        colours.add(bytes(line[x:x + 3]))
assert len(colours) >= 6, f"{path}: only {len(colours)} colours, the picture looks blank"
print(f"{path}: {w}x{h}, {len(colours)} colours sampled: a real picture")
