"""Rendering marketer-edited templates safely: the sandboxed renderer (``renderer``), the context a
template sees (``context``), its functions and filters (``functions``), CSS inlining, the skeleton
fast path behind the renderer (``skeleton``), template checks (``validation``) and a sample customer."""
