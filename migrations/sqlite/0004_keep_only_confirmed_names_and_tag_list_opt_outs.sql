-- A contact's name used to come from its first signup, confirmed or not: anyone could have
-- written it. Keep it only where that first request (the subscription created with the
-- contact) was confirmed; the others are dropped, as names from unconfirmed requests now are.
UPDATE `contacts` SET `name` = NULL
WHERE `name` IS NOT NULL
  AND NOT EXISTS (
    SELECT 1 FROM `subscriptions` s
    WHERE s.`contact_id` = `contacts`.`id` AND s.`created_at` = `contacts`.`created_at` AND s.`confirmed_at` IS NOT NULL
  );
--> statement-breakpoint
-- An opt-out from one list's unsubscribe link was made by that list's subscription, the only
-- one of the address on that list: its link may still undo it. Older "every list" opt-outs do
-- not say which link made them, so they stay untagged and only an admin can lift them.
UPDATE `suppressions` SET `created_by_link` = (
  SELECT s.`id` FROM `subscriptions` s
  INNER JOIN `contacts` c ON c.`id` = s.`contact_id`
  WHERE c.`email_key` = `suppressions`.`email` AND s.`list_id` = `suppressions`.`list_id`
)
WHERE `reason` = 'unsubscribed' AND `source` = 'unsubscribe link' AND `list_id` IS NOT NULL AND `email` IS NOT NULL;
