"""ComfyUI protocol: async client, the progress model, prompt helpers and safe image inspection."""
