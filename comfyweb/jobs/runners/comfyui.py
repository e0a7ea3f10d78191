"""A job on a plain ComfyUI, driven in-process with the protocol client the agent uses too.

The job id is the prompt id, so a runner that takes a job over finds the earlier run.
"""

from __future__ import annotations

import json

from comfyweb.comfy.client import ComfyClient
from comfyweb.comfy.errors import PromptValidationError
from comfyweb.comfy.inputs import InputError, materialize_image_inputs
from comfyweb.comfy.progress import output_images
from comfyweb.jobs.errors import BAD_INPUT, error_record
from comfyweb.jobs.models import GpuBackend, Job
from comfyweb.jobs.runners.outcome import Outcome, ProgressSink


async def run_on_comfyui(job: Job, backend: GpuBackend, sink: ProgressSink) -> Outcome:
    """A plain ComfyUI: the job id is the prompt id, so a re-attach finds the earlier run."""
    prompt_id = str(job.pk)
    async with ComfyClient(backend.url, token=backend.token or None) as comfy:
        if await _known_to(comfy, prompt_id, maybe=job.attempts > 1 or bool(job.progress)):
            result = await comfy.follow(
                prompt_id,
                prompt=job.prompt,
                on_progress=sink,
                on_preview=sink.preview,
                copy_progress=False,
                coalesce=True,
            )
        else:
            prompt = json.loads(json.dumps(job.prompt))
            try:
                await materialize_image_inputs(prompt, comfy)
            except InputError as exc:
                error = error_record(BAD_INPUT, message=str(exc))
                return Outcome(status=Job.Status.FAILED, progress=job.progress, images=[], error=error)
            try:
                result = await comfy.run(
                    prompt,
                    prompt_id=prompt_id,
                    on_progress=sink,
                    on_preview=sink.preview,
                    copy_progress=False,
                    coalesce=True,
                )
            except PromptValidationError as exc:
                return Outcome(
                    status=Job.Status.FAILED,
                    progress=job.progress,
                    images=[],
                    error={"error": exc.error, "node_errors": exc.node_errors},
                )
        images = []
        if result.status == "succeeded":
            for ref in output_images(result.progress):
                data = await comfy.view(
                    ref["filename"], subfolder=ref.get("subfolder", ""), image_type=ref.get("type", "output")
                )
                images.append((ref, data))
        return Outcome(status=result.status, progress=result.progress, images=images, error=result.error)


async def _known_to(comfy: ComfyClient, prompt_id: str, *, maybe: bool) -> bool:
    """Whether ComfyUI has run or queued the prompt. Only a job that ran before (retried, or its worker
    restarted) can be there: a first attempt asks nothing (two requests less per job start)."""
    if not maybe:
        return False
    if (await comfy.history(prompt_id)).get(prompt_id):
        return True
    queue = await comfy.queue()
    return any(item[1] == prompt_id for key in ("queue_running", "queue_pending") for item in queue.get(key, []))


async def interrupt_prompt(job: Job, backend: GpuBackend) -> None:
    """Take the job's prompt out of ComfyUI's queue, or interrupt it if it runs."""
    async with ComfyClient(backend.url, token=backend.token or None, timeout=5) as comfy:
        await comfy.delete_queued([str(job.pk)])
        await comfy.interrupt(str(job.pk))
