#!/usr/bin/python3
"""Writes the fuzz seed corpora into fuzz/seeds/<target>/: small valid files of every format,
made with Debian's numpy, torch and OpenCV. Each seed stays a few KB so they can be committed.
Usage: fuzz/make_seeds.py [OUT_DIR]"""
import collections
import io
import os
import pickle
import struct
import sys
import zipfile

import cv2
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, 'seeds')
MAX_SEED_BYTES = 8192


def write(target, name, data):
    assert len(data) <= MAX_SEED_BYTES, f'{target}/{name} has {len(data)} bytes'
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    with open(os.path.join(OUT, target, name), 'wb') as f:
        f.write(data)


def torch_saved(obj, **kwargs):
    buffer = io.BytesIO()
    torch.save(obj, buffer, **kwargs)
    return buffer.getvalue()


def state_dicts():
    x = torch.linspace(-1, 1, 6).reshape(2, 3)
    base = torch.arange(12, dtype=torch.float32)
    return {
        'plain': collections.OrderedDict(w=x, b=torch.tensor(0.5), empty=torch.zeros(0, 2)),
        'dtypes': collections.OrderedDict(h=x.half(), bf=x.bfloat16(), d=x.double(),
                                          n=torch.tensor(7), i=torch.ones(2, dtype=torch.int32)),
        'views': collections.OrderedDict(t=base.reshape(3, 4).t(), s=base[2:8], e=base[::3],
                                         c=torch.ones(2, 1, 1, 3)),
        'wrapped': {'epoch': 1, 'state_dict': collections.OrderedDict(a=torch.ones(2)),
                    'note': 'seed', 'ema': None},
        'bn': torch.nn.BatchNorm2d(2).state_dict(),
    }


def pth_fuzz_input(checkpoint):
    """fuzz_pth's input layout: [u8 n][n x u16 sizes][storages 0..n-1][data.pkl]."""
    archive = zipfile.ZipFile(io.BytesIO(checkpoint))
    prefix = archive.namelist()[0].split('/')[0] + '/'
    keys = sorted(int(n[len(prefix) + 5:]) for n in archive.namelist()
                  if n.startswith(prefix + 'data/'))
    assert keys == list(range(len(keys))), keys
    storages = [archive.read(f'{prefix}data/{k}') for k in keys]
    header = bytes([len(storages)]) + b''.join(struct.pack('<H', len(s)) for s in storages)
    return header + b''.join(storages) + archive.read(prefix + 'data.pkl')


def seed_loaders():
    for name, obj in state_dicts().items():
        checkpoint = torch_saved(obj)
        write('zip_reader', f'{name}.pth', checkpoint)
        write('pth', f'{name}.bin', pth_fuzz_input(checkpoint))
        prefix = zipfile.ZipFile(io.BytesIO(checkpoint)).namelist()[0].split('/')[0]
        write('pickle', f'{name}.pkl',
              zipfile.ZipFile(io.BytesIO(checkpoint)).read(prefix + '/data.pkl'))
    proto4 = torch_saved(state_dicts()['plain'], pickle_protocol=4)
    write('pickle', 'proto4.pkl', zipfile.ZipFile(io.BytesIO(proto4)).read('archive/data.pkl'))
    write('pickle', 'values.pkl', pickle.dumps({'a': [1, -2, 2**40, 1.5, None, True], 'b': (b'x',)},
                                               protocol=2))

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as z:
        z.writestr('stored.txt', b'stored entry ' * 4)
        z.writestr('deflated.txt', b'deflated entry ' * 20, compress_type=zipfile.ZIP_DEFLATED)
    write('zip_reader', 'mixed.zip', buffer.getvalue())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as z:
        with z.open('big.bin', 'w', force_zip64=True) as f:
            f.write(b'zip64' * 10)
    write('zip_reader', 'zip64.zip', buffer.getvalue())

    for name, array in {'matrix': np.arange(12, dtype=np.float32).reshape(3, 4) / 8,
                        'scalar': np.float32(2.5), 'empty': np.zeros((0, 3), np.float32),
                        'nhwc': np.linspace(0, 1, 48, dtype=np.float32).reshape(1, 4, 4, 3)}.items():
        buffer = io.BytesIO()
        np.save(buffer, array)
        write('npy', f'{name}.npy', buffer.getvalue())
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.full((2,), 1.5, np.float32), version=(2, 0))
    write('npy', 'v2.npy', buffer.getvalue())


def seed_darknet():
    tiny = os.path.join(HERE, '..', '..', 'shared', 'data', 'yolov4-tiny.cfg')
    if os.path.exists(tiny):
        write('darknet_cfg', 'yolov4-tiny.cfg', open(tiny, 'rb').read()[:MAX_SEED_BYTES])
    write('darknet_cfg', 'small.cfg', b"""[net]
# a comment
width=416
height = 416
hue=.1
[convolutional]
batch_normalize=1
filters=32
size=3
activation=mish

[route]
layers = -1, -3
; another comment
[yolo]
mask = 0,1,2
anchors = 12, 16, 19,36
scale_x_y = 1.2
""")
    rng = np.random.default_rng(0)
    for name, (major, minor, counts) in {'v0_2': (0, 2, [4, 8, 2]),
                                         'v0_1': (0, 1, [3, 3]),
                                         'v1_0': (1, 0, [16])}.items():
        plan = bytes([len(counts)]) + b''.join(struct.pack('<I', c) for c in counts)
        seen = struct.pack('<Q', 1000) if major * 10 + minor >= 2 else struct.pack('<I', 1000)
        floats = rng.standard_normal(sum(counts)).astype('<f4').tobytes()
        write('darknet_weights', f'{name}.bin',
              plan + struct.pack('<3i', major, minor, 0) + seen + floats)


def seed_images():
    rng = np.random.default_rng(1)
    colour = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (8, 10), dtype=np.uint8)
    alpha = rng.integers(0, 256, (6, 7, 4), dtype=np.uint8)
    images = {'colour.png': colour, 'grey.png': grey, 'alpha.png': alpha, 'colour.jpg': colour,
              'grey.jpg': grey, 'colour.bmp': colour, 'grey.bmp': grey, 'colour.webp': colour,
              'colour.ppm': colour, 'grey.pgm': grey, 'colour.tiff': colour}
    for name, pixels in images.items():
        ok, encoded = cv2.imencode(os.path.splitext(name)[1], pixels)
        assert ok, name
        for target in ('image_probe', 'image_decode'):
            write(target, name, encoded.tobytes())
    # Formats OpenCV cannot write: a GIF header and an OS/2 BMP core header (probe only).
    write('image_probe', 'header.gif', b'GIF89a\x10\x00\x0c\x00\x80\x00\x00' + bytes(6) + b';')
    write('image_probe', 'core.bmp', b'BM' + bytes(12) + struct.pack('<IHHHH', 12, 16, 12, 1, 24))


if __name__ == '__main__':
    seed_loaders()
    seed_darknet()
    seed_images()
