"""Tests of where and how gemgate reaches Google."""
