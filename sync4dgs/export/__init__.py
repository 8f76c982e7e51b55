"""sync4dgs.export"""
