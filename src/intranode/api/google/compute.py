"""Placeholder router; filled in by its API module."""

from fastapi import APIRouter

router = APIRouter()
