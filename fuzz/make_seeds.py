#!/usr/bin/python3
"""Writes the fuzz seed corpora into fuzz/seeds/<target>/: small valid files of every format,
made with Debian's numpy, torch and OpenCV. Each seed stays a few KB so they can be committed.
Usage: fuzz/make_seeds.py [OUT_DIR]"""
import collections
import io
import json
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


# Tiny networks for fuzz_darknet_model: (cfg, convs as (filters, inputs per group, size, bn)).
SMALL_NETWORKS = {
    'two_convs': ("""[net]
width=32
height=32
[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky
[convolutional]
filters=21
size=1
activation=linear
[yolo]
mask=0,1,2
anchors=4,6, 10,12, 20,24
classes=2
num=3
""", [(8, 3, 3, True), (21, 8, 1, False)]),
    'every_layer': ("""[net]
width=32
height=32
letter_box=1
[convolutional]
batch_normalize=1
filters=8
size=3
pad=1
activation=mish
[maxpool]
size=2
stride=2
[convolutional]
batch_normalize=1
filters=8
groups=8
size=3
pad=1
activation=swish
[shortcut]
from=-2
activation=linear
[route]
layers=-1
groups=2
group_id=1
[convolutional]
batch_normalize=1
filters=8
size=1
activation=relu
[convolutional]
filters=14
size=1
activation=linear
[yolo]
mask=0,1
anchors=4,6, 10,12, 20,24, 28,30
classes=2
num=4
scale_x_y=1.05
[route]
layers=-3
[upsample]
stride=2
[route]
layers=-1,0
[dropout]
probability=.1
[convolutional]
filters=14
size=1
activation=logistic
[yolo]
mask=2,3
anchors=4,6, 10,12, 20,24, 28,30
classes=2
num=4
new_coords=1
""", [(8, 3, 3, True), (8, 1, 3, True), (8, 4, 1, True), (14, 8, 1, False),
      (14, 16, 1, False)]),
}


def darknet_weights(convs, rng, major=0, minor=2):
    """A .weights file for these convs: header, then per conv biases, [scales, mean, variance],
    weights, as darknet writes them."""
    seen = struct.pack('<Q', 64) if major * 10 + minor >= 2 else struct.pack('<I', 64)
    parts = [struct.pack('<3i', major, minor, 0), seen]
    for filters, inputs, size, bn in convs:
        parts.append(rng.normal(0, 0.1, filters).astype('<f4').tobytes())
        if bn:
            parts.append(rng.uniform(0.5, 1.5, filters).astype('<f4').tobytes())
            parts.append(rng.normal(0, 0.1, filters).astype('<f4').tobytes())
            parts.append(rng.uniform(0.5, 2, filters).astype('<f4').tobytes())
        fan_in = inputs * size * size
        parts.append(rng.normal(0, (2 / fan_in) ** 0.5, filters * fan_in).astype('<f4').tobytes())
    return b''.join(parts)


def seed_darknet_model():
    """fuzz_darknet_model's input: [u8 mode][cfg] NUL [weights]; mode bits 0-1: the preset,
    bit 2: weights made to fit the cfg from the bytes after the NUL."""
    rng = np.random.default_rng(2)
    for preset, (name, (cfg, convs)) in enumerate(SMALL_NETWORKS.items()):
        write('darknet_model', f'{name}.bin',
              bytes([preset]) + cfg.encode() + b'\0' + darknet_weights(convs, rng))
    cfg, convs = SMALL_NETWORKS['two_convs']
    write('darknet_model', 'two_convs_v01.bin',
          bytes([2]) + cfg.encode() + b'\0' + darknet_weights(convs, rng, 0, 1))
    write('darknet_model', 'two_convs_bf16.bin',
          bytes([1]) + cfg.encode() + b'\0' + darknet_weights(convs, rng, 1, 0))
    for preset, (name, (cfg, _)) in enumerate(SMALL_NETWORKS.items()):
        write('darknet_model', f'{name}_fitted.bin',
              bytes([4 + preset]) + cfg.encode() + b'\0\x01\x40\x7f')


def seed_coco_data():
    """fuzz_coco_data's input: annotations JSON, NUL, results JSON."""
    annotations = {
        'info': {'year': 2017},
        'images': [{'id': 42, 'file_name': 'a.jpg', 'width': 640, 'height': 480}, {'id': 7.0}],
        'categories': [{'id': 18, 'name': 'dog', 'supercategory': 'animal'},
                       {'id': 1, 'name': 'person'}],
        'annotations': [
            {'id': 1, 'image_id': 42, 'category_id': 18, 'bbox': [1.5, 2, 30, 40.25],
             'area': 900.5, 'iscrowd': 0, 'segmentation': [[1, 2, 3, 4]]},
            {'id': 2, 'image_id': 7, 'category_id': 1, 'bbox': [0, 0, 10, 10], 'area': 100,
             'iscrowd': 1},
            {'id': 3, 'image_id': 7, 'category_id': 1, 'bbox': [0, 0, 1e1, 1E1], 'area': 100,
             'iscrowd': True}]}
    results = [{'image_id': 42, 'category_id': 18, 'bbox': [2, 2, 29, 40], 'score': 0.9},
               {'image_id': 7, 'category_id': 1, 'bbox': [0.5, 0, 10, 9.75], 'score': 0.25},
               {'image_id': 7, 'category_id': 5, 'bbox': [1, 1, 2, 2], 'score': 1e-3}]
    write('coco_data', 'small.bin',
          json.dumps(annotations).encode() + b'\0' + json.dumps(results).encode())
    # As `yolo4 eval --results` writes them: one result per line, shortest round-trip numbers.
    write('coco_data', 'written.bin', json.dumps(annotations, indent=1).encode() + b'\0[\n' +
          b',\n'.join(json.dumps(r).encode() for r in results) + b'\n]\n')
    write('coco_data', 'empty.bin', b'{"images": [], "annotations": [], "categories": []}\0[]')
    write('coco_data', 'results_only.bin',
          b'\0[{"image_id": 1, "category_id": 3, "bbox": [0, 0, 5, 5], "score": 0.5}]')


def http_request(method, path, headers=(), body=b''):
    lines = [f'{method} {path} HTTP/1.1', 'Host: 127.0.0.1'] + list(headers)
    if body:
        lines.append(f'Content-Length: {len(body)}')
    return ('\r\n'.join(lines) + '\r\n\r\n').encode() + body


def seed_serve_http():
    """fuzz_serve_http's input: raw bytes of one connection's requests."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    png = cv2.imencode('.png', pixels)[1].tobytes()
    jpg = cv2.imencode('.jpg', pixels)[1].tobytes()
    seeds = {
        'healthz': http_request('GET', '/healthz'),
        'metrics': http_request('GET', '/metrics', ['Accept-Encoding: gzip, br']),
        'page_range': http_request('GET', '/app.js', ['Range: bytes=0-10,20-30']),
        'not_found': http_request('GET', '/../etc/passwd'),
        'detect_png': http_request('POST', '/detect?conf=0.1&nms=0.5&max_det=5',
                                   ['Content-Type: image/png'], png),
        'demo_jpg': http_request('POST', '/objdetection_v2', ['Content-Type: image/jpeg'], jpg),
        'wrong_type': http_request('POST', '/detect', ['Content-Type: text/plain'], png),
        'bad_param': http_request('POST', '/detect?conf=2&max_det=x',
                                  ['Content-Type: image/png'], png),
        'too_large': http_request('POST', '/detect', ['Content-Type: image/png',
                                                      'Content-Length: 1000000']),
        'put': http_request('PUT', '/detect', ['Content-Type: image/png'], png),
        'keep_alive': http_request('GET', '/healthz', ['Connection: keep-alive']) +
                      http_request('POST', '/detect', ['Content-Type: image/jpeg'], jpg),
    }
    boundary = 'b0undary'
    multipart = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="x.jpg"\r\nContent-Type: image/jpeg\r\n\r\n').encode() + jpg + (
        f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n'
        f'--{boundary}--\r\n').encode()
    seeds['multipart'] = http_request(
        'POST', '/detect', [f'Content-Type: multipart/form-data; boundary={boundary}'], multipart)
    chunks = b''.join(b'%x\r\n' % len(png[i:i + 100]) + png[i:i + 100] + b'\r\n'
                      for i in range(0, len(png), 100)) + b'0\r\n\r\n'
    seeds['chunked'] = http_request('POST', '/detect', ['Content-Type: image/png',
                                                        'Transfer-Encoding: chunked']) + chunks
    for name, data in seeds.items():
        write('serve_http', f'{name}.http', data)


if __name__ == '__main__':
    seed_loaders()
    seed_darknet()
    seed_images()
    seed_darknet_model()
    seed_coco_data()
    seed_serve_http()
