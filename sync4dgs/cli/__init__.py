"""sync4dgs.cli"""
