"""Spreadsheet imports over HTTP: upload -> plan -> apply."""

from aiohttp import web

routes = web.RouteTableDef()
