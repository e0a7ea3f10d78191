"""NudeNet's detector on one onnxruntime thread: a server runs many checks at once, one per request.

NudeNet builds its session with onnxruntime's defaults: a thread per core for each check, which spin while
they wait for work. Measured on a 2-core machine, one check of a phone photo: 79 ms of CPU (40 ms wall) with
the defaults, 52 ms (50 ms wall) on one thread. In a crowd the other cores are busy with other requests
anyway, so the extra thread only adds CPU. Everything else (pre- and post-processing) is NudeNet's own.
"""

from __future__ import annotations

from pathlib import Path

import nudenet
import onnxruntime
from nudenet import NudeDetector

MODEL = Path(nudenet.__file__).parent / "320n.onnx"  # inside the wheel: nothing is downloaded
INPUT_SIDE = 320  # the model's input


def one_thread_options() -> onnxruntime.SessionOptions:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return options


class OneThreadDetector(NudeDetector):
    """NudeDetector with the session made here; the attributes are those NudeDetector.__init__ sets."""

    def __init__(self, model: Path = MODEL) -> None:  # not super().__init__(): it would load the model twice
        self.onnx_session = onnxruntime.InferenceSession(
            str(model), sess_options=one_thread_options(), providers=["CPUExecutionProvider"]
        )
        self.input_width = self.input_height = INPUT_SIDE
        self.input_name = self.onnx_session.get_inputs()[0].name
