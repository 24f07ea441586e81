"""Rented-device lifecycle over HTTP: terminate, swap, assign, return, charge, reports."""

from aiohttp import web

routes = web.RouteTableDef()
