"""The marketer's workspace: ``validate`` checks the config and every template, ``preview`` renders one email."""
