"""sync4dgs.eval"""
