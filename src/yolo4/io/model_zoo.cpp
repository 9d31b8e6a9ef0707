#include "yolo4/io/model_zoo.h"

#include "yolo4/core/error.h"

namespace yolo4 {

const std::vector<NamedModel>& named_models() {
  static const std::vector<NamedModel> models = {
      {"yolov4", "yolov4.cfg", yolov4_weights_spec(),
       "YOLOv4 (COCO, 80 classes; mAP@0.5 ~71% at 416): the report's network"},
      {"yolov4-tiny",
       "yolov4-tiny.cfg",
       {"https://github.com/AlexeyAB/darknet/releases/download/darknet_yolo_v4_pre/"
        "yolov4-tiny.weights",
        "yolov4-tiny.weights", 24251276,
        "cf9fbfd0f6d4869b35762f56100f50ed05268084078805f0e7989efe5bb8ca87"},
       "YOLOv4-tiny (COCO, 80 classes; mAP@0.5 ~40% at 416)"},
      {"yolo-fastest-1.1-xl",
       "yolo-fastest-1.1-xl.cfg",
       {"https://raw.githubusercontent.com/dog-qiuqiu/Yolo-Fastest/master/ModelZoo/"
        "yolo-fastest-1.1_coco/yolo-fastest-1.1-xl.weights",
        "yolo-fastest-1.1-xl.weights", 3693964,
        "fac5fb41786c1f38f04972a658443b189f48720d7d117f9a044100e98a35b0c5"},
       "Yolo-Fastest 1.1-XL (COCO, 80 classes; mAP@0.5 34% at 320; 3.7 MB)"},
  };
  return models;
}

const NamedModel& named_model(std::string_view name) {
  std::string names;
  for (const NamedModel& m : named_models()) {
    if (m.name == name) return m;
    names += (names.empty() ? "" : ", ") + std::string(m.name);
  }
  fail("unknown model '", name, "': expected one of ", names);
}

}  // namespace yolo4
