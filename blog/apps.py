from django.apps import AppConfig


class BlogConfig(AppConfig):
    name = "blog"
    verbose_name = "Medical articles"

    def ready(self) -> None:
        from django.db.models.signals import post_save
        from wagtail.models import TaskState, WorkflowState
        from wagtail.signals import (
            task_approved,
            task_rejected,
            workflow_approved,
            workflow_rejected,
        )

        from blog.permissions import article_permission_policies_register
        from blog.receivers import (
            article_review_stamp,
            article_task_approved,
            article_task_rejected,
        )

        # Only verified, active doctors author: one gate in Wagtail's permission policies.
        article_permission_policies_register()
        post_save.connect(article_review_stamp, sender=TaskState, dispatch_uid="blog_review_stamp")
        task_approved.connect(article_task_approved, dispatch_uid="blog_article_task_approved")
        task_rejected.connect(article_task_rejected, dispatch_uid="blog_article_task_rejected")
        # Our notification replaces Wagtail's own "approved"/"rejected" email to the submitter:
        # one message, which follows the author's email choices, not two.
        workflow_approved.disconnect(
            sender=WorkflowState, dispatch_uid="workflow_state_approved_email_notification"
        )
        workflow_rejected.disconnect(
            sender=WorkflowState, dispatch_uid="workflow_state_rejected_email_notification"
        )
