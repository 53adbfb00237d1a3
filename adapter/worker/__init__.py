"""The running adapter: FastStream on RabbitMQ, the batching pipeline, the outbox relay, the clock."""
