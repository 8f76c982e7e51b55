"""sync4dgs.render"""
