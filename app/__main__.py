from app.cli import main

# Guarded: `worker --workers N` spawns processes that import this module again.
if __name__ == "__main__":
    main()
