"""Reactions of the movies module to other modules' events.

The catalogue depends on no other module's facts, so it has no listener yet. One
would read `@listener(UserDeleted) async def forget_ratings(event, services): ...`
(see `app.posts.listeners` and `app.core.events`).
"""
