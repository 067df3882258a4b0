"""What the agency tests share: whether a response refused the user (a 403 or 404, or the admin
sending them back to its dashboard)."""


def denied(response) -> bool:
    return response.status_code in (403, 404) or (
        response.status_code == 302 and response["Location"] == "/admin/"
    )
