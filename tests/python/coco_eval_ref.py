"""An independent numpy implementation of COCO bbox evaluation and of darknet's `detector map`.

The property tests (test_coco_eval.py) compare `yolo4 eval` against it. It follows the algorithm
pycocotools publishes (COCOeval.evaluate / accumulate / summarize with default parameters, bbox)
but is written separately from the C++ code and in a different shape: boxes and IoUs as numpy
arrays, the precision envelope with numpy.maximum.accumulate, the recall lookup with
numpy.searchsorted. pycocotools itself is not packaged for Debian 12.

Inputs are plain dicts as the JSON files hold them: the annotation file (images, annotations,
categories) and the list of results.
"""

from collections import defaultdict

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
AREA_RANGES = [(0.0, 1e5**2), (0.0, 32.0**2), (32.0**2, 96.0**2), (96.0**2, 1e5**2)]
MAX_DETS = [1, 10, 100]

STAT_NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]


def iou_matrix(results, truths, crowd):
    """(len(results), len(truths)) IoUs of [x, y, w, h] boxes; crowd truths divide by the
    result's area only."""
    d = np.asarray(results, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(truths, dtype=np.float64).reshape(-1, 4)
    crowd = np.asarray(crowd, dtype=bool).reshape(-1)
    w = np.minimum(d[:, None, 2] + d[:, None, 0], g[None, :, 2] + g[None, :, 0]) - np.maximum(
        d[:, None, 0], g[None, :, 0])
    h = np.minimum(d[:, None, 3] + d[:, None, 1], g[None, :, 3] + g[None, :, 1]) - np.maximum(
        d[:, None, 1], g[None, :, 1])
    inter = w * h
    d_area = (d[:, 2] * d[:, 3])[:, None]
    g_area = (g[:, 2] * g[:, 3])[None, :]
    union = np.where(crowd[None, :], d_area + 0 * g_area, d_area + g_area - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where((w > 0) & (h > 0), iou, 0.0)


def _match(results, truths, area_range):
    """One image and category: returns (scores, matched[T, D], ignored[T, D], regular truths)."""
    lo, hi = area_range
    t_ignore = np.array([bool(t["iscrowd"]) or t["area"] < lo or t["area"] > hi for t in truths],
                        dtype=bool)
    order = np.argsort(t_ignore, kind="stable")  # regular ground truth first
    truths = [truths[i] for i in order]
    t_ignore = t_ignore[order]
    crowd = np.array([bool(t["iscrowd"]) for t in truths], dtype=bool)
    ious = iou_matrix([r["bbox"] for r in results], [t["bbox"] for t in truths], crowd)
    D, G = len(results), len(truths)
    matched = np.zeros((len(IOU_THRESHOLDS), D), dtype=bool)
    ignored = np.zeros((len(IOU_THRESHOLDS), D), dtype=bool)
    for ti, threshold in enumerate(IOU_THRESHOLDS):
        taken = np.zeros(G, dtype=bool)
        for di in range(D):
            best_iou = min(threshold, 1 - 1e-10)
            best = None
            for gi in range(G):
                if taken[gi] and not crowd[gi]:
                    continue
                # a regular match is final once only ignored ground truth is left
                if best is not None and not t_ignore[best] and t_ignore[gi]:
                    break
                if ious[di, gi] >= best_iou:
                    best_iou, best = ious[di, gi], gi
            if best is None:
                continue
            taken[best] = True
            ignored[ti, di] = t_ignore[best]
            matched[ti, di] = truths[best]["id"] != 0  # pycocotools stores the id; 0 reads as none
    out_of_range = np.array([not (lo <= r["bbox"][2] * r["bbox"][3] <= hi) for r in results],
                            dtype=bool)
    ignored |= ~matched & out_of_range[None, :]
    scores = np.array([r["score"] for r in results], dtype=np.float64)
    return scores, matched, ignored, int(np.count_nonzero(~t_ignore))


def coco_eval(dataset, results, image_ids=None):
    """Returns (stats[12], per-category AP@[.5:.95] list or -1)."""
    if image_ids is None:
        image_ids = [im["id"] for im in dataset["images"]]
    images = sorted(set(image_ids))
    image_set = set(images)
    categories = sorted({c["id"] for c in dataset["categories"]})
    truths = defaultdict(list)
    for t in dataset["annotations"]:
        truths[t["image_id"], t["category_id"]].append(t)
    found = defaultdict(list)
    for n, r in enumerate(results):
        if r["image_id"] in image_set:
            found[r["image_id"], r["category_id"]].append(dict(r, id=n + 1))

    T, R, K, A, M = len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS), len(categories), 4, 3
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    for k, cat in enumerate(categories):
        per_area = [[] for _ in range(A)]
        for img in images:
            gts, dts = truths[img, cat], found[img, cat]
            if not gts and not dts:
                continue
            order = np.argsort([-d["score"] for d in dts], kind="stable")[:MAX_DETS[-1]]
            dts = [dts[i] for i in order]
            for a in range(A):
                per_area[a].append(_match(dts, gts, AREA_RANGES[a]))
        for a in range(A):
            if not per_area[a]:
                continue
            regular = sum(e[3] for e in per_area[a])
            if regular == 0:
                continue
            for m, max_det in enumerate(MAX_DETS):
                scores = np.concatenate([e[0][:max_det] for e in per_area[a]])
                order = np.argsort(-scores, kind="stable")
                matched = np.concatenate([e[1][:, :max_det] for e in per_area[a]], axis=1)[:, order]
                ignored = np.concatenate([e[2][:, :max_det] for e in per_area[a]], axis=1)[:, order]
                tp = np.cumsum(matched & ~ignored, axis=1).astype(np.float64)
                fp = np.cumsum(~matched & ~ignored, axis=1).astype(np.float64)
                for t in range(T):
                    rc = tp[t] / regular
                    pr = tp[t] / (fp[t] + tp[t] + np.spacing(1))
                    recall[t, k, a, m] = rc[-1] if len(rc) else 0.0
                    envelope = np.maximum.accumulate(pr[::-1])[::-1] if len(pr) else pr
                    where = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
                    q = np.zeros(R)
                    valid = where < len(envelope)
                    q[valid] = envelope[where[valid]]
                    precision[t, :, k, a, m] = q

    def mean(values):
        values = values[values > -1]
        return float(np.mean(values)) if values.size else -1.0

    stats = [
        mean(precision[:, :, :, 0, 2]),
        mean(precision[0, :, :, 0, 2]),
        mean(precision[5, :, :, 0, 2]),
        mean(precision[:, :, :, 1, 2]),
        mean(precision[:, :, :, 2, 2]),
        mean(precision[:, :, :, 3, 2]),
        mean(recall[:, :, 0, 0]),
        mean(recall[:, :, 0, 1]),
        mean(recall[:, :, 0, 2]),
        mean(recall[:, :, 1, 2]),
        mean(recall[:, :, 2, 2]),
        mean(recall[:, :, 3, 2]),
    ]
    per_category = [mean(precision[:, :, k, 0, 2]) for k in range(K)]
    return stats, per_category


def darknet_map(dataset, results, image_ids=None, iou_threshold=0.5, score_threshold=0.005):
    """darknet's `detector map` (validate_detector_map, -points 0). Returns (map, per-class AP)."""
    if image_ids is None:
        image_ids = [im["id"] for im in dataset["images"]]
    image_set = set(image_ids)
    categories = sorted({c["id"] for c in dataset["categories"]})
    truths = defaultdict(list)
    counts = defaultdict(int)
    for n, t in enumerate(dataset["annotations"]):
        if t["iscrowd"] or t["image_id"] not in image_set:
            continue
        truths[t["image_id"], t["category_id"]].append(n)
        counts[t["category_id"]] += 1
    ranked = defaultdict(list)  # category -> [(score, truth index or -1)]
    for r in results:
        if r["score"] <= score_threshold or r["image_id"] not in image_set:
            continue
        candidates = truths[r["image_id"], r["category_id"]]
        best, best_iou = -1, 0.0
        if candidates:
            ious = iou_matrix([r["bbox"]], [dataset["annotations"][n]["bbox"] for n in candidates],
                              [False] * len(candidates))[0]
            for n, iou in zip(candidates, ious):
                if iou > iou_threshold and iou > best_iou:
                    best, best_iou = n, iou
        ranked[r["category_id"]].append((r["score"], best))
    aps = []
    for cat in categories:
        entries = ranked[cat]
        order = np.argsort([-s for s, _ in entries], kind="stable")
        taken = set()
        tp = np.zeros(len(entries))
        for rank, i in enumerate(order):
            truth = entries[i][1]
            if truth >= 0 and truth not in taken:
                taken.add(truth)
                tp[rank] = 1
        tps = np.cumsum(tp)
        precision = tps / np.arange(1, len(entries) + 1)
        recall = tps / counts[cat] if counts[cat] else np.zeros(len(entries))
        # area under the envelope, recall steps from 0
        envelope = np.maximum.accumulate(precision[::-1])[::-1]
        steps = np.diff(np.concatenate([[0.0], recall]))
        aps.append(float(np.sum(steps * envelope)) if len(entries) else 0.0)
    return (float(np.mean(aps)) if aps else 0.0), aps
