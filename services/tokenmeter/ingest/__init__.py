"""Getting events into Kafka: the producer SDK for gateways and the synthetic load generator."""
