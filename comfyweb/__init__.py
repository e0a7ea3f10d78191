"""comfyweb: ComfyUI workflows as public, form-driven pages, and a GPU agent for elastic capacity."""
