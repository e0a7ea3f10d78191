"""The relay of job progress to browsers: publishing, batched writes, the WebSocket consumer."""
