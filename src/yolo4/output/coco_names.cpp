// Built in so that `yolo4 detect` needs no data files besides the weights.
#include "yolo4/output/coco_names.h"

#include <array>

namespace yolo4 {
namespace {

// Darknet spellings (e.g. "motorbike", "tvmonitor"), not the 2017 annotation names: the
// checkpoints were trained with these and users compare against darknet output.
constexpr std::array<std::string_view, kCocoClasses> kNames = {
    "person",        "bicycle",       "car",           "motorbike",
    "aeroplane",     "bus",           "train",         "truck",
    "boat",          "traffic light", "fire hydrant",  "stop sign",
    "parking meter", "bench",         "bird",          "cat",
    "dog",           "horse",         "sheep",         "cow",
    "elephant",      "bear",          "zebra",         "giraffe",
    "backpack",      "umbrella",      "handbag",       "tie",
    "suitcase",      "frisbee",       "skis",          "snowboard",
    "sports ball",   "kite",          "baseball bat",  "baseball glove",
    "skateboard",    "surfboard",     "tennis racket", "bottle",
    "wine glass",    "cup",           "fork",          "knife",
    "spoon",         "bowl",          "banana",        "apple",
    "sandwich",      "orange",        "broccoli",      "carrot",
    "hot dog",       "pizza",         "donut",         "cake",
    "chair",         "sofa",          "pottedplant",   "bed",
    "diningtable",   "toilet",        "tvmonitor",     "laptop",
    "mouse",         "remote",        "keyboard",      "cell phone",
    "microwave",     "oven",          "toaster",       "sink",
    "refrigerator",  "book",          "clock",         "vase",
    "scissors",      "teddy bear",    "hair drier",    "toothbrush",
};

}  // namespace

std::span<const std::string_view> coco_names() {
  return kNames;
}

std::string class_name(std::span<const std::string_view> names, int class_id) {
  if (class_id >= 0 && static_cast<size_t>(class_id) < names.size()) {
    return std::string(names[static_cast<size_t>(class_id)]);
  }
  return "class" + std::to_string(class_id);
}

}  // namespace yolo4
