"""sync4dgs.sync"""
