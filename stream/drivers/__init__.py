"""Why sentiment moved: driver terms, their log-odds scores, and repost detection (pure)."""
