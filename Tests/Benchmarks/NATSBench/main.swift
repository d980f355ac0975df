print("nvisy-bench-nats: not written yet")
