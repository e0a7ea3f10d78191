"""Running one claimed job on its GPU backend (`run_job`), over a plain ComfyUI or an agent."""
