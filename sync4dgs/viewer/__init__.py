"""sync4dgs.viewer"""
