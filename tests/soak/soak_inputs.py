"""What both soak tests run: the trained Yolo-Fastest 1.1 and dog.jpg from the shared data."""
import os


def soak_inputs(shared_data):
    """(cfg, weights, image) paths, or None after saying which one is missing."""
    models = os.path.join(shared_data, "models")
    paths = (os.path.join(models, "yolo-fastest-1.1.cfg"),
             os.path.join(models, "yolo-fastest-1.1.weights"),
             os.path.join(shared_data, "images", "dog.jpg"))
    for path in paths:
        if not os.path.exists(path):
            print(f"SKIP: {path} is missing")
            return None
    return paths
