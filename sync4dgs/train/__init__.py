"""sync4dgs.train"""
