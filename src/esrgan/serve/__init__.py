"""`esrgan serve`: a local web page to upscale images, compare them with bicubic, and slide one network
between two models of one architecture (network interpolation, paper eq. 4) while watching the result.

Starlette routes (`app.py`) over a plain HTML/CSS/JS page (`static/`, no build step, nothing fetched from
elsewhere); the models the page offers (`catalogue.py`); uploads checked like `esrgan upscale`'s inputs
(`uploads.py`); what a run does with a network (`engine.py`); one model run at a time (`jobs.py`); the
listening socket and uvicorn (`server.py`).
"""
