"""sync4dgs.model"""
