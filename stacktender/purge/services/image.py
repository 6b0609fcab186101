"""glance: images the project owns (protected ones are unprotected first) and the
project's memberships of other projects' images (the membership goes, never the image)."""

from __future__ import annotations

from typing import Any

from stacktender.purge.model import Found, ResourceType
from stacktender.purge.services import found, owned

SERVICE = "image"


def _images(conn: Any, project_id: str | None) -> list[Found]:
    filters = {"owner": project_id} if project_id else {}
    return [
        found(
            "image",
            SERVICE,
            image,
            owner="owner",
            detail=f"{image.status}, {image.visibility}"
            + (", protected" if image.is_protected else ""),
        )
        for image in owned(conn.image.images(**filters), project_id, owner="owner")
    ]


def _delete_image(conn: Any, item: Found) -> None:
    image = conn.image.get_image(item.id)
    if image.is_protected:
        conn.image.update_image(image, is_protected=False)
    conn.image.delete_image(image, ignore_missing=False)


def _memberships(conn: Any, project_id: str | None) -> list[Found]:
    """The project's memberships of images other projects own."""
    out = []
    for image in conn.image.images(visibility="shared"):
        if project_id is not None and image.owner == project_id:
            continue  # the image itself goes, and its members with it
        for member in conn.image.members(image.id):
            if project_id is not None and member.member_id != project_id:
                continue
            if member.member_id == image.owner:
                continue
            out.append(
                Found(
                    type="image_member",
                    service=SERVICE,
                    id=f"{image.id}/{member.member_id}",
                    name=image.name or "",
                    project_id=member.member_id,
                    detail=f"member ({member.status}) of image {image.id} owned by {image.owner}",
                    data={"image": image.id, "member": member.member_id},
                )
            )
    return out


def _delete_membership(conn: Any, item: Found) -> None:
    conn.image.remove_member(item.data["member"], image=item.data["image"], ignore_missing=False)


TYPES = [
    ResourceType(
        name="image",
        service=SERVICE,
        list=_images,
        delete=_delete_image,
        owner="owner",
        description="glance images the project owns",
    ),
    ResourceType(
        name="image_member",
        service=SERVICE,
        list=_memberships,
        delete=_delete_membership,
        owner="member_id",
        description="the project's memberships of other projects' shared images",
    ),
]
