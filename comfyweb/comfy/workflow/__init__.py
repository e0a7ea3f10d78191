"""ComfyUI's "Save" format (a UI workflow: nodes, links, groups, subgraphs) → the API prompt it queues.

ComfyUI's page turns the graph on its canvas into the API prompt with `app.graphToPrompt()`; this package
does the same in Python, from the workflow JSON and the target ComfyUI's `/object_info` (which says, per
node class, which inputs are widgets and in which order their values sit in `widgets_values`). It follows
the front end ComfyUI 0.3.75 ships (comfyui-frontend-package 1.32) rule by rule, and `make test-comfyui`
compares the two on real workflows in a browser. It needs nothing but its arguments (no Django, no I/O),
so the catalog's import and the GPU agent use it alike.

Entry points: `to_api_prompt(workflow, object_info)` → the prompt and warnings to pass on;
`convert_workflow(...)` → also ComfyUI's groups and the node classes the backend lacks, for an import.
"""

from comfyweb.comfy.workflow.conversion import ApiPrompt, Conversion, convert_workflow, to_api_prompt
from comfyweb.comfy.workflow.errors import WorkflowConversionError
from comfyweb.comfy.workflow.formats import is_api_prompt, is_ui_workflow
from comfyweb.comfy.workflow.groups import GroupInfo
from comfyweb.comfy.workflow.loading import FRONTEND_NODES, MissingNode

__all__ = [
    "FRONTEND_NODES",
    "ApiPrompt",
    "Conversion",
    "GroupInfo",
    "MissingNode",
    "WorkflowConversionError",
    "convert_workflow",
    "is_api_prompt",
    "is_ui_workflow",
    "to_api_prompt",
]
