"""The web console (issue 15, part 5): pages for the people who do the work, served by
``cmc-workflow serve`` at ``/console/`` next to the HTTP API.

- :mod:`.app` – :func:`~cmc_workflow.console.app.create_console`, the pages (Jinja2
  templates in ``templates/``, the stylesheet in ``static/``: nothing from the internet);
- :mod:`.sessions` – sign-in, session cookies stored hashed, CSRF tokens, sign-out, each
  sign-in and failure audited (SEC-1);
- :mod:`.passwords` – console passwords as scrypt hashes (``cmc-workflow console
  password``; no web framework, so the command line needs no ``api`` extra);
- :mod:`.svg` – the workflow diagram with the current state marked and the dashboard's
  charts, as inline SVG;
- :mod:`.texts` – what the console says, in Chinese and English.

Docs: ``docs/console.md``.
"""
