"""``python -m summarize_video``: the same as the ``summarize-video`` command."""

from summarize_video.cli.main import main

if __name__ == "__main__":
    main()
