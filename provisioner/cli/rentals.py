"""Rented-device lifecycle commands: terminate, swap, assign, return, charge, reports."""
