"""Background tasks of the movies module.

None yet: every movie use case finishes within its request. A task is a plain
`@task` async function here (see `app.posts.tasks` and `app.core.queue`).
"""
