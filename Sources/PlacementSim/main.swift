print("placement-sim: not written yet")
