"""The calculation core: numbers, the calculator, the expression language and their errors.

Pure Python and the standard library only: nothing here knows about HTTP, Flask,
settings files or processes, so every module can be read and tested on its own.
"""
