print("nvisy")
